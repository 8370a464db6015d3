// A restricted, defensive XML reader for the small XML files Qubes writes (qubes.xml,
// firewall.xml). The input is untrusted (it comes out of a backup archive):
// - bytes must be UTF-8 (a BOM is accepted), size-capped;
// - no DTD at all: any `<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`, `<!ATTLIST` … is refused, so there
//   is no entity expansion and no external entity; only the five predefined entities and
//   character references are decoded (by us, with fast-xml-parser's entity processing off);
// - well-formedness is checked before the tree is built, in ONE pass over the text that also
//   bounds nesting depth and the number of elements (checkWellFormed below: what
//   fast-xml-parser's parser would let through — a closing tag that does not match, an
//   unclosed element, a repeated or malformed attribute, a stray '<', text or a second element
//   outside the document element; fast-xml-parser's own validator walked the text a second
//   time for that, ~35 ms of a 1,000-domain qubes.xml, issue 17);
//   The same pass cuts layout whitespace (whitespace-only runs between child elements) from the
//   text the parser reads: fast-xml-parser builds text one character at a time, ~20 % of a
//   large file's parse, and the readers never use it;
// - the parser then builds the tree (it refuses what is left: unclosed comments, CDATA, PIs),
//   one third-level element at a time (each <domain> of qubes.xml apart), so that its raw tree
//   of the whole document never lives beside ours (see WellFormed);
// Every problem is a WqError('input') naming the file and what is wrong.
import { XMLParser } from 'fast-xml-parser';
import { WqError } from '../errors.ts';
import { printable } from '../names.ts';

export interface XmlLimits {
  /** maximum size in bytes */
  maxBytes: number;
  /** maximum element nesting depth */
  maxDepth: number;
  /** maximum number of elements */
  maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = Object.freeze({
  maxBytes: 32 * 1024 * 1024,
  maxDepth: 16,
  maxElements: 2_000_000,
});

/** One element: attributes and text already decoded; children in document order. */
export interface XNode {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  /**
   * the element's own character data (text and CDATA), decoded, exactly as written; of an
   * element with child elements, without the whitespace-only runs between its children (layout)
   */
  readonly text: string;
  readonly children: readonly XNode[];
}

function refuse(source: string, what: string): never {
  throw new WqError('input', `Refusing ${source}: ${what}.`);
}

/** Bytes → text: UTF-8 only, size cap, optional BOM dropped. */
export function decodeXmlBytes(
  input: Uint8Array | string,
  source: string,
  limits: XmlLimits = DEFAULT_XML_LIMITS,
): string {
  if (typeof input === 'string') {
    // a JS string of more than maxBytes UTF-16 units is certainly more than maxBytes bytes
    if (input.length > limits.maxBytes || Buffer.byteLength(input, 'utf8') > limits.maxBytes) {
      refuse(source, `larger than ${limits.maxBytes} bytes`);
    }
    return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  }
  if (input.byteLength > limits.maxBytes) refuse(source, `larger than ${limits.maxBytes} bytes (${input.byteLength})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(input);
  } catch {
    const at = firstInvalidUtf8(input);
    refuse(source, `not valid UTF-8 text (bad byte at offset ${at})`);
  }
  return text;
}

/** Offset of the first byte that breaks UTF-8 (for the error message). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    i += need + 1;
  }
  return i;
}

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const ENTITY = /&(?:#x([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/y;

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** Decodes the predefined entities and character references; anything else after `&` is refused. */
export function decodeEntities(raw: string, source: string, where: string): string {
  if (!raw.includes('&')) return raw;
  let out = '';
  let last = 0;
  let i = raw.indexOf('&');
  while (i >= 0) {
    out += raw.slice(last, i);
    ENTITY.lastIndex = i;
    const m = ENTITY.exec(raw);
    if (m === null) {
      const shown = /^&[^;\s<]{0,20};?/.exec(raw.slice(i))?.[0] ?? '&';
      refuse(
        source,
        `${where}: undefined entity or bare '&' ('${printable(shown)}'); ` +
          'only &lt; &gt; &amp; &quot; &apos; and character references are allowed',
      );
    }
    if (m[3] !== undefined) {
      out += PREDEFINED[m[3]];
    } else {
      const cp = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2] as string, 10);
      if (!isXmlChar(cp)) refuse(source, `${where}: character reference '${printable(m[0])}' is not an XML character`);
      out += String.fromCodePoint(cp);
    }
    last = ENTITY.lastIndex;
    i = raw.indexOf('&', last);
  }
  return out + raw.slice(last);
}

// fast-xml-parser's preserveOrder output: an array of items, each either a text item
// { '#text': string }, a CDATA item { '#cdata': [ { '#text': string } ] }, or an element
// { <tag>: item[], ':@'?: { <attr>: string } }.
type RawItem = Record<string, unknown>;

/** The parser as parseSafeXml configures it (exported for bench/xml-profile.ts). */
export function makeParser(limits: XmlLimits): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    // no prefix: with preserveOrder the attributes have an object of their own (':@'), so their
    // names cannot meet the parser's own keys, and it makes no prefixed copy of every name (~8 %
    // of its time on a large qubes.xml, issue 17)
    attributeNamePrefix: '',
    // keep every other name as written (its default renames e.g. 'toString' to '__toString');
    // our records of them have no prototype
    onDangerousProperty: (name: string) => name,
    textNodeName: '#text',
    cdataPropName: '#cdata',
    commentPropName: false,
    processEntities: false,
    htmlEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    ignoreDeclaration: false,
    ignorePiTags: false, // keeps the <?xml ?> declaration (checked); other PIs are skipped
    allowBooleanAttributes: false,
    removeNSPrefix: false,
    maxNestedTags: limits.maxDepth,
    jPath: false, // no path strings per element (faster); no callback uses them
  });
}

function parseItems(parser: XMLParser, text: string, source: string): RawItem[] {
  let items: unknown;
  try {
    items = parser.parse(text);
  } catch (err) {
    refuse(source, `not readable XML (${printable(err instanceof Error ? err.message : String(err), 160)})`);
  }
  if (!Array.isArray(items)) refuse(source, 'not readable XML');
  return items as RawItem[];
}

/**
 * Parses `input` into a tree of XNode and returns the root element. `rootTag` names the
 * allowed document element(s).
 */
export function parseSafeXml(
  input: Uint8Array | string,
  rootTag: string | readonly string[],
  source: string,
  limits: XmlLimits = DEFAULT_XML_LIMITS,
): XNode {
  const text = decodeXmlBytes(input, source, limits);
  if (text.trim() === '') refuse(source, 'the file is empty');
  const dtd = /<!(?!--|\[CDATA\[)([A-Za-z]*)/.exec(text);
  if (dtd !== null) {
    refuse(
      source,
      `it contains a DTD declaration ('<!${printable(dtd[1] ?? '', 20)}'); ` +
        'DOCTYPE, ENTITY and other declarations are not allowed',
    );
  }
  const { skeleton, chunks } = checkWellFormed(text, source, limits);
  const parser = makeParser(limits);
  const items = parseItems(parser, skeleton, source);
  // the elements of the third level, each parsed when the tree reaches it (see checkWellFormed)
  let next = 0;
  const third = (): { item: RawItem; tag: string } => {
    const chunk = chunks[next++];
    if (chunk === undefined) refuse(source, 'not readable XML (an element was lost)');
    for (const item of parseItems(parser, chunk, source)) {
      const tag = elementTag(item);
      if (tag !== undefined && !isTextItem(item) && !tag.startsWith('?')) return { item, tag };
    }
    return refuse(source, 'not readable XML (an element was lost)');
  };
  let root: XNode | undefined;
  for (const item of items as RawItem[]) {
    if (isTextItem(item)) {
      if (String(item['#text']).trim() !== '') refuse(source, 'text outside the document element');
      continue;
    }
    const tag = elementTag(item);
    if (tag === '?xml') {
      checkDeclaration(item, source);
      continue;
    }
    if (tag === undefined || tag.startsWith('?')) continue;
    if (root !== undefined) refuse(source, 'more than one document element');
    root = convert(item, tag, { source, limits, n: 0, third }, 1);
  }
  if (root === undefined) refuse(source, 'no document element');
  if (next !== chunks.length) refuse(source, 'not readable XML (an element was lost)');
  const roots = typeof rootTag === 'string' ? [rootTag] : rootTag;
  if (!roots.includes(root.tag)) {
    refuse(
      source,
      `the document element is <${printable(root.tag, 40)}>, expected ${roots.map((r) => `<${r}>`).join(' or ')}`,
    );
  }
  return root;
}

// XML 1.0 names: exact in ASCII; above it every character from U+00B7 on is allowed (a superset
// of the specification's ranges: what matters here is that no markup character is).
const NAME = '[:A-Z_a-z\\u00C0-\\uFFFD][:A-Z_a-z\\u00B7-\\uFFFD\\-.0-9]*';
// A start tag is matched one piece at a time (never one pattern repeated over all of its
// attributes: a tag with a million attributes would exhaust the regexp engine's stack):
const START_TAG_NAME = new RegExp(`<(${NAME})`, 'y');
/** the next attribute: space, a name, '=', a quoted value without '<' (and without its own quote) */
const NEXT_ATTRIBUTE = new RegExp(`\\s+(${NAME})\\s*=\\s*(?:"[^<"]*"|'[^<']*')`, 'y');
/** the end of a start tag, '/' if the element is empty */
const START_TAG_END = /\s*(\/?)>/y;
const CLOSE_TAG = new RegExp(`</(${NAME})\\s*>`, 'y');
const PI = new RegExp(`<\\?(${NAME})(?:\\s[^]*?)?\\?>`, 'y');
const NOT_SPACE = /[^ \t\r\n]/;
/** names the parser refuses itself without saying where (its keys are the names as written) */
const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The well-formedness check, in one pass over the text (each markup item matched where it
 * starts), together with the nesting and element-count limits; returns the text without its
 * layout whitespace, for the parser (exported for bench/xml-profile.ts).
 * What it accepts, fast-xml-parser's
 * parser reads as written; what the parser would misread, it refuses with the line and column.
 */
export function checkWellFormed(text: string, source: string, limits: XmlLimits): WellFormed {
  function notWellFormed(at: number, what: string): never {
    let line = 1;
    let lineStart = 0;
    for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    refuse(source, `not well-formed XML (line ${line}, column ${at - lineStart + 1}: ${what})`);
  }
  const open: string[] = [];
  let elements = 0;
  let rootSeen = false;
  let at = 0;
  // Layout whitespace (a whitespace-only run between markup in an element that has child
  // elements, or outside the document element) is cut from the text the parser reads: the
  // parser builds its text one character at a time, and the readers ignore it. A run is
  // decided when its element's first child appears (cut) or the element closes without
  // one (kept: the element's value). Ranges [from, to) to cut, in order:
  const cuts: number[] = [];
  const pending: number[] = []; // runs of the open elements not decided yet
  const pendingFrom: number[] = []; // per open element: where its runs start in `pending`
  const hasChildren: boolean[] = [];
  // where each element of the third level starts and ends: [from, to) pairs, in order
  const thirds: number[] = [];
  for (let lt = text.indexOf('<'); ; lt = text.indexOf('<', at)) {
    const end = lt < 0 ? text.length : lt;
    if (open.length === 0) {
      // character data: only inside the document element (whitespace around it)
      const bad = NOT_SPACE.exec(text.slice(at, end));
      if (bad !== null) notWellFormed(at + bad.index, 'text outside the document element');
      if (end > at) cuts.push(at, end);
    } else if (end > at && isSpace(text, at, end)) {
      if (hasChildren[hasChildren.length - 1] === true) cuts.push(at, end);
      else pending.push(at, end);
    }
    if (lt < 0) break;
    const next = text.charCodeAt(lt + 1);
    if (next === 0x2f /* / */) {
      CLOSE_TAG.lastIndex = lt;
      const m = CLOSE_TAG.exec(text);
      if (m === null) notWellFormed(lt, 'malformed closing tag');
      const expected = open.pop();
      hasChildren.pop();
      pending.length = pendingFrom.pop() ?? 0; // a childless element keeps its whitespace value
      if (m[1] !== expected) {
        notWellFormed(
          lt,
          expected === undefined
            ? `closing tag </${printable(m[1] as string, 40)}> without an open element`
            : `closing tag </${printable(m[1] as string, 40)}> does not match <${printable(expected, 40)}>`,
        );
      }
      at = CLOSE_TAG.lastIndex;
      if (open.length === 2) thirds.push(at);
    } else if (next === 0x21 /* ! */) {
      if (text.startsWith('<!--', lt)) {
        const end = text.indexOf('-->', lt + 4);
        if (end < 0) notWellFormed(lt, 'unclosed comment');
        at = end + 3;
      } else if (text.startsWith('<![CDATA[', lt)) {
        if (open.length === 0) notWellFormed(lt, 'CDATA outside the document element');
        const end = text.indexOf(']]>', lt + 9);
        if (end < 0) notWellFormed(lt, 'unclosed CDATA section');
        at = end + 3;
      } else {
        notWellFormed(lt, 'declarations are not allowed'); // DTDs are refused before the scan
      }
    } else if (next === 0x3f /* ? */) {
      PI.lastIndex = lt;
      const m = PI.exec(text);
      if (m === null) notWellFormed(lt, 'malformed processing instruction');
      if ((m[1] as string).toLowerCase() === 'xml' && lt !== 0)
        notWellFormed(lt, 'the XML declaration is allowed only at the start');
      at = PI.lastIndex;
    } else {
      START_TAG_NAME.lastIndex = lt;
      const m = START_TAG_NAME.exec(text);
      if (m === null) notWellFormed(lt, "malformed start tag or a bare '<'");
      const name = m[1] as string;
      if (RESERVED_NAMES.has(name)) notWellFormed(lt, `reserved name '${name}' for an element`);
      // attributes, each name once (a list while short, a set past a few: no quadratic check)
      let pos = START_TAG_NAME.lastIndex;
      let names: string[] | Set<string> | undefined;
      let empty: boolean;
      for (;;) {
        START_TAG_END.lastIndex = pos;
        const close = START_TAG_END.exec(text);
        if (close !== null) {
          empty = close[1] === '/';
          pos = START_TAG_END.lastIndex;
          break;
        }
        NEXT_ATTRIBUTE.lastIndex = pos;
        const a = NEXT_ATTRIBUTE.exec(text);
        if (a === null) notWellFormed(lt, "malformed start tag or a bare '<'");
        const attr = a[1] as string;
        // the parser keeps attribute names as they are (no prefix)
        if (RESERVED_NAMES.has(attr)) notWellFormed(lt, `reserved name '${attr}' for an attribute`);
        if (names === undefined) names = [attr];
        else if (Array.isArray(names) ? names.includes(attr) : names.has(attr))
          notWellFormed(lt, `attribute '${printable(attr, 40)}' is repeated`);
        else if (Array.isArray(names)) {
          names.push(attr);
          if (names.length > 8) names = new Set(names);
        } else names.add(attr);
        pos = NEXT_ATTRIBUTE.lastIndex;
      }
      if (open.length === 0) {
        if (rootSeen) notWellFormed(lt, 'more than one document element');
        rootSeen = true;
      }
      if (++elements > limits.maxElements) refuse(source, `more than ${limits.maxElements} elements`);
      if (open.length > 0 && hasChildren[hasChildren.length - 1] !== true) {
        // the parent's first child: its runs so far are layout
        hasChildren[hasChildren.length - 1] = true;
        const from = pendingFrom[pendingFrom.length - 1] as number;
        for (let i = from; i < pending.length; i++) cuts.push(pending[i] as number);
        pending.length = from;
      }
      if (open.length === 2) {
        thirds.push(lt);
        if (empty) thirds.push(pos);
      }
      if (!empty) {
        open.push(name);
        hasChildren.push(false);
        pendingFrom.push(pending.length);
        if (open.length > limits.maxDepth) refuse(source, `elements nested deeper than ${limits.maxDepth} levels`);
      }
      at = pos;
    }
  }
  if (open.length > 0) notWellFormed(text.length, `<${printable(open[open.length - 1] as string, 40)}> is not closed`);
  if (!rootSeen) refuse(source, 'no document element');
  // text[from, to) without the cuts in it, appended to `out` (the cuts are consumed in order)
  let cut = 0;
  const uncut = (from: number, to: number, out: string[]): void => {
    let p = from;
    for (; cut < cuts.length && (cuts[cut] as number) < to; cut += 2) {
      out.push(text.slice(p, cuts[cut]));
      p = cuts[cut + 1] as number;
    }
    out.push(text.slice(p, to));
  };
  const parts: string[] = [];
  const chunks: string[] = [];
  let from = 0;
  for (let i = 0; i < thirds.length; i += 2) {
    uncut(from, thirds[i] as number, parts);
    parts.push(PLACEHOLDER);
    const own: string[] = [];
    uncut(thirds[i] as number, thirds[i + 1] as number, own);
    chunks.push(own.length === 1 ? (own[0] as string) : own.join(''));
    from = thirds[i + 1] as number;
  }
  uncut(from, text.length, parts);
  return { skeleton: parts.join(''), chunks };
}

/**
 * What the well-formedness check hands the parser: the document without its layout whitespace,
 * cut in pieces. Each element of the third level (each `<domain>` of qubes.xml, each `<rule>` of
 * firewall.xml) is a text of its own, parsed when the tree reaches it, and stands in the rest
 * (`skeleton`) as an empty placeholder element. The parser's raw tree of one such element is
 * garbage as soon as it is converted, instead of the whole document's raw tree living at once
 * beside the converted one (issue 17: the peak memory of a 1,000-domain qubes.xml).
 */
export interface WellFormed {
  skeleton: string;
  /** the third-level elements in document order */
  chunks: string[];
}

const PLACEHOLDER = '<_/>';

/** Whether text[from, to) is XML whitespace only (space, tab, CR, LF). */
function isSpace(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

function isTextItem(item: RawItem): boolean {
  return Object.prototype.hasOwnProperty.call(item, '#text');
}

function elementTag(item: RawItem): string | undefined {
  // for…in instead of Object.keys: no array per item (this runs once per element)
  for (const key in item) if (key !== ':@') return key;
  return undefined;
}

function checkDeclaration(item: RawItem, source: string): void {
  const attrs = (item[':@'] ?? {}) as Record<string, unknown>;
  const enc = attrs['encoding'];
  if (typeof enc === 'string' && !/^utf-?8$/i.test(enc)) {
    refuse(source, `it declares encoding '${printable(enc, 20)}'; only UTF-8 is accepted`);
  }
}

/**
 * An empty record without a prototype (no inherited `constructor`, `__proto__` a plain key).
 * Made from `{}` rather than Object.create(null): V8 keeps this one's properties in fast mode
 * (Object.create(null) makes a dictionary, several times slower to fill, read and walk; issue 17).
 */
export function nullRecord(): Record<string, string> {
  return Object.setPrototypeOf({}, null) as Record<string, string>;
}

const NO_CHILDREN: readonly XNode[] = Object.freeze([]);

interface ConvertContext {
  readonly source: string;
  readonly limits: XmlLimits;
  /** elements converted so far */
  n: number;
  /** the next third-level element, parsed apart (see WellFormed) */
  readonly third: () => { item: RawItem; tag: string };
}

function convert(item: RawItem, tag: string, ctx: ConvertContext, depth: number): XNode {
  const { source, limits } = ctx;
  if (++ctx.n > limits.maxElements) refuse(source, `more than ${limits.maxElements} elements`);
  if (depth > limits.maxDepth) refuse(source, `elements nested deeper than ${limits.maxDepth} levels`);
  const attrs = nullRecord();
  const rawAttrs = item[':@'];
  if (rawAttrs !== undefined && rawAttrs !== null && typeof rawAttrs === 'object') {
    for (const name in rawAttrs as Record<string, unknown>) {
      const value = (rawAttrs as Record<string, unknown>)[name];
      if (typeof value !== 'string')
        refuse(source, `element <${printable(tag, 40)}>: unreadable attribute '${printable(name, 40)}'`);
      // attribute-value normalisation: literal whitespace characters become spaces
      const norm = /[\t\n\r]/.test(value) ? value.replace(/[\t\n\r]/g, ' ') : value;
      attrs[name] = norm.includes('&')
        ? decodeEntities(norm, source, `element <${printable(tag, 40)}> attribute '${printable(name, 40)}'`)
        : norm;
    }
  }
  // most elements are leaves: they share one empty list
  let children: XNode[] | undefined;
  let text = '';
  const content = item[tag];
  if (Array.isArray(content)) {
    for (const child of content as RawItem[]) {
      const raw = child['#text'];
      if (raw !== undefined) {
        const t = String(raw);
        text += t.includes('&') ? decodeEntities(t, source, `element <${printable(tag, 40)}>`) : t;
        continue;
      }
      const childTag = elementTag(child);
      if (childTag === undefined || childTag.startsWith('?')) continue;
      if (childTag === '#cdata') {
        const parts = child['#cdata'];
        if (Array.isArray(parts)) for (const part of parts as RawItem[]) text += String(part['#text'] ?? '');
        continue;
      }
      if (depth === 2) {
        // a placeholder: the element itself was parsed apart
        const own = ctx.third();
        (children ??= []).push(convert(own.item, own.tag, ctx, depth + 1));
      } else (children ??= []).push(convert(child, childTag, ctx, depth + 1));
    }
  }
  return { tag, attrs, text, children: children ?? NO_CHILDREN };
}
