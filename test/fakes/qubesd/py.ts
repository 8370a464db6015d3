// Small re-implementations of the Python behaviours qubesd's answers depend on: repr() of a
// str, int() literals, the bool property setter, string.printable, ipaddress text forms.
// Written from the Python language documentation; nothing here is Qubes code.

/** Python repr() of a str (the quoting rules of CPython's unicode_repr, ASCII subset exact). */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0x80 && code < 0xa0) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** repr() of a Python set of one-character strings; sorted (CPython's order is hash-dependent). */
export function pySetRepr(chars: Iterable<string>): string {
  return `{${[...new Set(chars)].sort().map(pyRepr).join(', ')}}`;
}

/** Python's str.isdigit() for ASCII input (non-empty, all 0-9). */
export function isDigits(s: string): boolean {
  return /^[0-9]+$/.test(s);
}

const PY_WHITESPACE = ' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f';

/** str.strip() with Python's ASCII whitespace set. */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && PY_WHITESPACE.includes(s[a] as string)) a++;
  while (b > a && PY_WHITESPACE.includes(s[b - 1] as string)) b--;
  return s.slice(a, b);
}

/** Python int(text) for a str: surrounding whitespace, optional sign, digits with single `_` between. */
export function pyInt(text: string): bigint | undefined {
  const m = /^([+-]?)([0-9](?:_?[0-9])*)$/.exec(pyStrip(text));
  if (m === null) return undefined;
  const v = BigInt((m[2] as string).replace(/_/g, ''));
  return m[1] === '-' ? -v : v;
}

/** string.printable */
export const PRINTABLE = new Set(
  '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\r\x0b\x0c',
);

export function isPrintable(s: string): boolean {
  for (const ch of s) if (!PRINTABLE.has(ch)) return false;
  return true;
}

/** Bytes are pure 7-bit ASCII (Python's bytes.decode('ascii', 'strict') succeeds). */
export function isAsciiBytes(b: Uint8Array): boolean {
  for (const x of b) if (x > 0x7f) return false;
  return true;
}

/** ipaddress.IPv4Address(text) → canonical text, or undefined (Python ≥ 3.9.5: no leading zeros). */
export function parseIPv4(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    if (p.length > 1 && p.startsWith('0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out.join('.');
}

/** ipaddress.IPv6Address(text) → canonical compressed text (RFC 5952), or undefined. */
export function parseIPv6(text: string): string | undefined {
  if (text.length === 0 || text.includes('%')) return undefined;
  let head = text;
  let tail4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    const o = v4.split('.').map(Number) as [number, number, number, number];
    tail4 = [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl.length === 2) {
    const a = parseGroups(dbl[0] as string);
    const b = parseGroups(dbl[1] as string);
    if (a === undefined || b === undefined) return undefined;
    const missing = 8 - a.length - b.length - tail4.length;
    if (missing < 1) return undefined;
    groups = [...a, ...new Array<number>(missing).fill(0), ...b, ...tail4];
  } else {
    const a = parseGroups(head);
    if (a === undefined) return undefined;
    groups = [...a, ...tail4];
    if (groups.length !== 8) return undefined;
  }
  // longest run (≥ 2) of zero groups, first one wins
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** uuid.UUID(text) → canonical lower-case hyphenated text, or undefined. */
export function parseUuid(text: string): string | undefined {
  let hex = text.replace(/^urn:/, '').replace(/^uuid:/, '');
  hex = hex.replace(/^\{/, '').replace(/\}$/, '').replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  hex = hex.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
