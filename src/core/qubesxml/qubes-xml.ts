// Reader of the Core3 `qubes.xml` (Qubes OS 4.x; the copy archived in a backup's metadata)
// into the shared model `ArchivedSystem` (src/core/qubes/model.ts).
//
// Format (written by qubes-core-admin's `__xml__` methods):
//   <qubes>
//     <labels><label id="label-1" color="0xcc0000">red</label>…</labels>
//     <pools><pool name="…" driver="…" dir_path="…" …/>…</pools>
//     <properties><property name="default_netvm">sys-firewall</property>…</properties>
//     <domains>
//       <domain id="domain-5" class="AppVM">
//         <properties><property name="…">value</property>…</properties>   (explicit values only)
//         <features><feature name="…">value</feature>…</features>
//         <tags><tag name="…"/>…</tags>
//         <devices class="pci"><device backend-domain="dom0" id="00_03.0"
//             mode="required" identity="…"><option name="…">…</option></device></devices>
//         <volume-config><volume name="root" pool="…" vid="…" …/>…</volume-config>
//       </domain>…
//     </domains>
//   </qubes>
// Qubes 4.2 writes devices without `mode`/`identity` (assignments there are always
// persistent = required; some versions wrote `required="yes|no"`, and an `identity` option);
// 4.3+ writes `mode` and `identity`. References to qubes are qube names; `label` is a
// `label-N` id (4.0–4.3) or a label name (4.4 writes names). dom0 (AdminVM) has no name
// property: its name is `dom0`.
import * as z from 'zod';
import { WqError } from '../errors.ts';
import { printable, qubeNameProblem } from '../names.ts';
import {
  QUBE_CLASSES,
  type ArchivedSystem,
  type DeviceAssignment,
  type Label,
  type PoolRecord,
  type QubeClass,
  type QubeSettings,
  type VolumeConfig,
} from '../qubes/model.ts';
import {
  globalPropertyInfo,
  propertyInfo,
  propertyValueProblem,
  normalisePropertyValue,
  type PropertyType,
} from '../qubes/properties.ts';
import { DEFAULT_XML_LIMITS, nullRecord, parseSafeXml, type XmlLimits, type XNode } from './safe-xml.ts';

export interface QubesXmlLimits extends XmlLimits {
  maxDomains: number;
  maxLabels: number;
  maxPools: number;
  /** per domain (and for the global properties) */
  maxProperties: number;
  maxFeatures: number;
  maxTags: number;
  maxDevices: number;
  maxVolumes: number;
  /** characters of one property / feature / option value */
  maxValueLength: number;
}

export const DEFAULT_QUBES_XML_LIMITS: QubesXmlLimits = Object.freeze({
  ...DEFAULT_XML_LIMITS,
  maxDomains: 10_001, // qubesd's max_qid is 10000, plus dom0
  maxLabels: 256,
  maxPools: 1_000,
  maxProperties: 500,
  maxFeatures: 10_000,
  maxTags: 10_000,
  maxDevices: 1_000,
  maxVolumes: 64,
  maxValueLength: 1_000_000,
});

// --- name rules ---
/** qubesd property names are Python identifiers */
export const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** docs/design.md "Admin API contract": features `[A-Za-z0-9_.-]+` */
export const FEATURE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
/** docs/design.md "Admin API contract" / qubes Tags.validate_tag: `[A-Za-z0-9_-]+` */
export const TAG_NAME = /^[A-Za-z0-9_-]{1,256}$/;
export const LABEL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const LABEL_ID = /^label-([0-9]{1,6})$/;
const LABEL_COLOR = /^0x[0-9A-Fa-f]{6}$/;
const POOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const ATTR_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const DEVCLASS = /^[A-Za-z0-9_-]{1,32}$/;
/** PCI `00_03.0`, `00_1c.0-00_00.0`; USB `2-1.3`; block `sda`, `loop0`, `dm-3`, … */
const PORT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** e.g. `0x1af4:0x1041::p020000`, `*`: printable ASCII without space and quotes */
const DEVICE_ID = /^[\x21\x23-\x26\x28-\x7e]{1,512}$/;
const OPTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const VOLUME_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const DEVICE_MODES = ['required', 'auto-attach', 'ask-to-attach'] as const;

// --- zod shapes of the attribute sets ---
const LabelAttrs = z.object({
  id: z.string().regex(LABEL_ID, 'must be label-N'),
  color: z.string().regex(LABEL_COLOR, 'must be 0xRRGGBB'),
});
const PoolAttrs = z.object({
  name: z.string().regex(POOL_NAME, 'invalid pool name'),
  driver: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'invalid driver name'),
});
const DomainAttrs = z.object({
  class: z.string().min(1, 'missing'),
  id: z
    .string()
    .regex(/^domain-[0-9]{1,6}$/, 'must be domain-N')
    .optional(),
});
const DevicesAttrs = z.object({ class: z.string().regex(DEVCLASS, 'invalid device class') });
const DeviceAttrs = z.object({
  'backend-domain': z.string().min(1, 'missing'),
  id: z.string().regex(PORT_ID, 'invalid port id').optional(),
  mode: z.string().optional(),
  identity: z.string().regex(DEVICE_ID, 'invalid device identity').optional(),
  required: z.string().optional(),
});

/** Options of parseQubesXml. */
export interface ParseQubesXmlOptions {
  /** name of the input in messages (default `qubes.xml`) */
  source?: string;
  limits?: Partial<QubesXmlLimits>;
}

/** Anything but printable ASCII (what qubesd accepts in a value). */
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;

function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  const hex = code.toString(16).toUpperCase();
  return code < 0x20 || (code >= 0x7f && code <= 0x9f)
    ? `control character 0x${hex.padStart(2, '0')}`
    : `non-ASCII character U+${hex.padStart(4, '0')}`;
}

class Ctx {
  constructor(
    readonly source: string,
    readonly limits: QubesXmlLimits,
  ) {}

  fail(where: string, what: string): never {
    throw new WqError('input', `Refusing ${this.source}: ${where}: ${what}.`);
  }

  attrs<T>(schema: z.ZodType<T>, node: XNode, where: string): T {
    const r = schema.safeParse(node.attrs);
    if (!r.success) {
      const issue = r.error.issues[0];
      const key = issue?.path[0] === undefined ? undefined : String(issue.path[0]);
      if (issue === undefined || key === undefined) return this.fail(where, issue?.message ?? 'invalid attributes');
      const raw = node.attrs[key];
      if (raw === undefined) return this.fail(where, `attribute '${key}' is missing`);
      return this.fail(where, `attribute ${key}='${printable(raw, 60)}': ${issue.message}`);
    }
    return r.data;
  }

  /** the non-empty `name` attribute (the common case, checked without building messages) */
  name(node: XNode, where: () => string): string {
    const name = node.attrs['name'];
    if (name === undefined || name === '')
      return this.fail(where(), name === undefined ? `attribute 'name' is missing` : `attribute 'name' is empty`);
    return name;
  }

  value(text: string, where: string): string {
    if (text.length > this.limits.maxValueLength)
      this.fail(where, `value longer than ${this.limits.maxValueLength} characters`);
    // qubesd takes printable ASCII only (property and feature values, device options): a
    // control character or other byte here is a tampered archive, and would reach terminals
    if (NOT_PRINTABLE_ASCII.test(text)) {
      const bad = NOT_PRINTABLE_ASCII.exec(text)![0];
      this.fail(where, `value holds ${describeChar(bad)}, which qubesd does not accept`);
    }
    return text;
  }

  /** value() of attribute `attr` of the element at `where` (the message is built only on failure) */
  valueAt(text: string, where: string, attr: string): string {
    if (text.length <= this.limits.maxValueLength && !NOT_PRINTABLE_ASCII.test(text)) return text;
    return this.value(text, `${where} attribute '${attr}'`);
  }

  /** refuses `__proto__` (it cannot be a key of a plain record) */
  key(name: string, where: string): string {
    if (name === '__proto__') this.fail(where, `reserved name '__proto__'`);
    return name;
  }

  count(n: number, max: number, where: string, what: string): void {
    if (n > max) this.fail(where, `more than ${max} ${what}`);
  }
}

function childrenNamed(node: XNode, tag: string): XNode[] {
  return node.children.filter((c) => c.tag === tag);
}

function single(ctx: Ctx, node: XNode, tag: string, where: string): XNode | undefined {
  const found = childrenNamed(node, tag);
  if (found.length > 1) ctx.fail(where, `more than one <${tag}>`);
  return found[0];
}

/** Only `<tag>` children allowed below `node` (text between them must be whitespace). */
function listOf(ctx: Ctx, node: XNode | undefined, tag: string, where: string, max: number): XNode[] {
  if (node === undefined) return [];
  if (node.text.trim() !== '') ctx.fail(where, `unexpected text '${printable(node.text.trim(), 40)}'`);
  for (const c of node.children)
    if (c.tag !== tag) ctx.fail(where, `unexpected element <${printable(c.tag, 40)}> (expected <${tag}>)`);
  ctx.count(node.children.length, max, where, `<${tag}> elements`);
  return node.children as XNode[];
}

/**
 * A record of the model, filled key by key where every key goes through Ctx.key first (no
 * `__proto__`), so it is a plain object from the start (no copy; issue 17) and only literal
 * keys are read back from it here.
 */
function modelRecord(): Record<string, string> {
  return {};
}

/** Copies a null-prototype record into a plain object (every key went through Ctx.key: no `__proto__`). */
function plain(rec: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in rec) out[k] = rec[k] as string;
  return out;
}

/** Parses an archived qubes.xml (bytes or text) into the shared model. Throws WqError('input'). */
export function parseQubesXml(input: Uint8Array | string, options: ParseQubesXmlOptions = {}): ArchivedSystem {
  const limits: QubesXmlLimits = { ...DEFAULT_QUBES_XML_LIMITS, ...options.limits };
  const ctx = new Ctx(options.source ?? 'qubes.xml', limits);
  const root = parseSafeXml(input, 'qubes', ctx.source, limits);
  for (const c of root.children) {
    if (!['labels', 'pools', 'properties', 'domains'].includes(c.tag)) {
      ctx.fail('<qubes>', `unexpected element <${printable(c.tag, 40)}>`);
    }
  }

  // labels
  const labels: Label[] = [];
  const labelById = new Map<string, string>();
  const labelNames = new Set<string>();
  for (const [i, node] of listOf(
    ctx,
    single(ctx, root, 'labels', '<qubes>'),
    'label',
    '<labels>',
    limits.maxLabels,
  ).entries()) {
    const where = `label #${i + 1}`;
    const a = ctx.attrs(LabelAttrs, node, where);
    const name = node.text;
    if (!LABEL_NAME.test(name)) ctx.fail(where, `invalid label name '${printable(name, 40)}'`);
    if (labelById.has(a.id)) ctx.fail(where, `duplicate label id '${a.id}'`);
    if (labelNames.has(name)) ctx.fail(where, `duplicate label name '${name}'`);
    labelById.set(a.id, name);
    labelNames.add(name);
    labels.push({ index: Number((LABEL_ID.exec(a.id) as RegExpExecArray)[1]), name, color: a.color });
  }

  // pools
  const pools: PoolRecord[] = [];
  const poolNames = new Set<string>();
  for (const [i, node] of listOf(
    ctx,
    single(ctx, root, 'pools', '<qubes>'),
    'pool',
    '<pools>',
    limits.maxPools,
  ).entries()) {
    const a = ctx.attrs(PoolAttrs, node, `pool #${i + 1}`);
    const where = `pool '${a.name}'`;
    if (poolNames.has(a.name)) ctx.fail(where, 'duplicate pool name');
    poolNames.add(a.name);
    const config = nullRecord();
    for (const k in node.attrs) {
      if (k === 'name' || k === 'driver') continue;
      if (!ATTR_NAME.test(k)) ctx.fail(where, `invalid attribute name '${printable(k, 40)}'`);
      config[ctx.key(k, where)] = ctx.value(node.attrs[k] as string, `${where} attribute '${k}'`);
    }
    pools.push({ name: a.name, driver: a.driver, config: plain(config) });
  }

  const resolveLabel = (value: string, where: string): string => {
    const byId = labelById.get(value);
    if (byId !== undefined) return byId;
    if (labelNames.has(value)) return value;
    return ctx.fail(where, `label '${printable(value, 40)}' is not defined in <labels>`);
  };

  // global properties
  const globals = readProperties(
    ctx,
    single(ctx, root, 'properties', '<qubes>'),
    'global properties',
    (name, value, where) => {
      const spec = globalPropertyInfo(name);
      return spec === undefined ? value : typedValue(ctx, spec.type, value, where, resolveLabel);
    },
  );

  // domains
  const qubes: QubeSettings[] = [];
  const names = new Set<string>();
  const domainsNode = single(ctx, root, 'domains', '<qubes>');
  for (const [i, node] of listOf(ctx, domainsNode, 'domain', '<domains>', limits.maxDomains).entries()) {
    const qube = readDomain(ctx, node, i, resolveLabel);
    if (names.has(qube.name)) ctx.fail(`domain '${qube.name}'`, 'duplicate qube name');
    names.add(qube.name);
    // qids (and uuids) are not checked for uniqueness: they are host-specific, never restored,
    // and qubes-core-admin's own backup fixture repeats one
    qubes.push(qube);
  }

  // Every value above was checked where it was read (zod for attribute sets, the name and value
  // rules, the limits) and the objects are built here with the model's exact shapes, so the
  // result is not walked a second time with ArchivedSystemSchema (that walk cost ~7 ms and as
  // much again in garbage per 1,000 domains; the unit tests check the shape against the schema).
  return { globals: plain(globals), labels, pools, qubes };
}

function typedValue(
  ctx: Ctx,
  type: PropertyType,
  value: string,
  where: string,
  resolveLabel: (value: string, where: string) => string,
): string {
  if (type === 'label') return resolveLabel(value, where);
  const problem = propertyValueProblem(type, value);
  if (problem !== undefined) ctx.fail(where, problem);
  return normalisePropertyValue(type, value);
}

function readProperties(
  ctx: Ctx,
  node: XNode | undefined,
  where: string,
  convertValue: (name: string, value: string, where: string) => string,
): Record<string, string> {
  const out = modelRecord();
  for (const [i, p] of listOf(ctx, node, 'property', `${where} <properties>`, ctx.limits.maxProperties).entries()) {
    const name = ctx.name(p, () => `${where}: property #${i + 1}`);
    if (!PROPERTY_NAME.test(name)) ctx.fail(`${where}: property '${printable(name, 64)}'`, 'invalid property name');
    const pw = `${where}: property '${name}'`;
    if (p.children.length > 0) ctx.fail(pw, `unexpected element <${printable((p.children[0] as XNode).tag, 40)}>`);
    ctx.key(name, pw);
    if (Object.prototype.hasOwnProperty.call(out, name)) ctx.fail(pw, 'set twice');
    out[name] = convertValue(name, ctx.value(p.text, pw), pw);
  }
  return out;
}

function readDomain(
  ctx: Ctx,
  node: XNode,
  index: number,
  resolveLabel: (value: string, where: string) => string,
): QubeSettings {
  let where = `domain #${index + 1}`;
  const a = ctx.attrs(DomainAttrs, node, where);
  if (!(QUBE_CLASSES as readonly string[]).includes(a.class)) {
    ctx.fail(where, `unknown qube class '${printable(a.class, 40)}' (known: ${QUBE_CLASSES.join(', ')})`);
  }
  const klass = a.class as QubeClass;
  for (const c of node.children) {
    if (!['properties', 'features', 'tags', 'devices', 'volume-config'].includes(c.tag)) {
      ctx.fail(where, `unexpected element <${printable(c.tag, 40)}>`);
    }
  }
  // name first, so that later messages can say which qube
  const propsNode = single(ctx, node, 'properties', where);
  const nameNode = propsNode?.children.find((c) => c.tag === 'property' && c.attrs['name'] === 'name');
  let name: string;
  if (klass === 'AdminVM') {
    name = 'dom0';
    if (nameNode !== undefined && nameNode.text !== 'dom0')
      ctx.fail(where, `dom0 (AdminVM) named '${printable(nameNode.text, 40)}'`);
  } else {
    if (nameNode === undefined) ctx.fail(where, `${klass} without a 'name' property`);
    name = nameNode.text;
    const problem = qubeNameProblem(name);
    if (problem !== undefined) ctx.fail(where, `invalid qube name '${printable(name, 40)}': ${problem}`);
    if (name === 'dom0') ctx.fail(where, `only the AdminVM may be named dom0`);
  }
  where = `domain '${name}'`;

  const properties = readProperties(ctx, propsNode, where, (pname, value, pw) => {
    const spec = propertyInfo(pname, klass);
    if (spec !== undefined) return typedValue(ctx, spec.type, value, pw, resolveLabel);
    // a property this class does not have in 4.4 (older/newer release): keep the text, but
    // still check values of names that are typed for other classes
    const other = (['AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM', 'AdminVM', 'RemoteVM'] as const)
      .map((k) => propertyInfo(pname, k))
      .find((s) => s !== undefined);
    return other === undefined ? value : typedValue(ctx, other.type, value, pw, resolveLabel);
  });
  if (klass !== 'AdminVM' && properties['label'] === undefined) ctx.fail(where, 'no label property');

  // features (insertion order kept)
  const features = modelRecord();
  const featuresNode = single(ctx, node, 'features', where);
  for (const [i, f] of listOf(ctx, featuresNode, 'feature', `${where} <features>`, ctx.limits.maxFeatures).entries()) {
    const fname = ctx.name(f, () => `${where}: feature #${i + 1}`);
    if (!FEATURE_NAME.test(fname))
      ctx.fail(
        `${where}: feature '${printable(fname, 64)}'`,
        'invalid feature name (allowed: letters, digits, "_", ".", "-")',
      );
    const fw = `${where}: feature '${fname}'`;
    if (f.children.length > 0) ctx.fail(fw, `unexpected element <${printable((f.children[0] as XNode).tag, 40)}>`);
    ctx.key(fname, fw);
    if (Object.prototype.hasOwnProperty.call(features, fname)) ctx.fail(fw, 'set twice');
    features[fname] = ctx.value(f.text, fw);
  }

  // tags
  const tags: string[] = [];
  const tagSet = new Set<string>();
  for (const [i, t] of listOf(
    ctx,
    single(ctx, node, 'tags', where),
    'tag',
    `${where} <tags>`,
    ctx.limits.maxTags,
  ).entries()) {
    const tname = ctx.name(t, () => `${where}: tag #${i + 1}`);
    if (!TAG_NAME.test(tname))
      ctx.fail(`${where}: tag '${printable(tname, 64)}'`, 'invalid tag name (allowed: letters, digits, "_", "-")');
    if (!tagSet.has(tname)) tags.push(tname);
    tagSet.add(tname);
  }

  // devices
  const devices: DeviceAssignment[] = [];
  const devclasses = new Set<string>();
  for (const dn of childrenNamed(node, 'devices')) {
    const { class: devclass } = ctx.attrs(DevicesAttrs, dn, `${where} <devices>`);
    const dw = `${where} <devices class="${devclass}">`;
    if (devclasses.has(devclass)) ctx.fail(dw, 'device class listed twice');
    devclasses.add(devclass);
    for (const [i, d] of listOf(ctx, dn, 'device', dw, ctx.limits.maxDevices).entries()) {
      devices.push(readDevice(ctx, d, devclass, `${dw} device #${i + 1}`));
    }
    ctx.count(devices.length, ctx.limits.maxDevices, where, 'devices');
  }

  // volume config
  let volumes: VolumeConfig[] | undefined;
  const vc = single(ctx, node, 'volume-config', where);
  if (vc !== undefined) {
    volumes = [];
    const seen = new Set<string>();
    for (const [i, v] of listOf(ctx, vc, 'volume', `${where} <volume-config>`, ctx.limits.maxVolumes).entries()) {
      const vname = ctx.name(v, () => `${where}: volume #${i + 1}`);
      if (!VOLUME_NAME.test(vname)) ctx.fail(`${where}: volume '${printable(vname, 32)}'`, 'invalid volume name');
      const vw = `${where}: volume '${vname}'`;
      if (seen.has(vname)) ctx.fail(vw, 'listed twice');
      seen.add(vname);
      const config = modelRecord();
      // for…in, not Object.entries: no [key, value] array per attribute (4 volumes × 7 per qube)
      for (const k in v.attrs) {
        if (k === 'name') continue;
        if (!ATTR_NAME.test(k)) ctx.fail(vw, `invalid attribute name '${printable(k, 40)}'`);
        config[ctx.key(k, vw)] = ctx.valueAt(v.attrs[k] as string, vw, k);
      }
      volumes.push({ name: vname, config });
    }
  }

  const qube: QubeSettings = { name, klass, properties, features, tags, devices };
  if (volumes !== undefined) qube.volumes = volumes;
  return qube;
}

function readDevice(ctx: Ctx, d: XNode, devclass: string, where: string): DeviceAssignment {
  const a = ctx.attrs(DeviceAttrs, d, where);
  const backend = a['backend-domain'];
  if (backend !== 'dom0') {
    const problem = qubeNameProblem(backend);
    if (problem !== undefined) ctx.fail(where, `invalid backend-domain '${printable(backend, 40)}': ${problem}`);
  }
  const port = a.id ?? '*';
  const options = nullRecord();
  for (const [i, o] of listOf(ctx, d, 'option', where, 256).entries()) {
    const name = ctx.name(o, () => `${where} option #${i + 1}`);
    if (!OPTION_NAME.test(name)) ctx.fail(`${where} option '${printable(name, 64)}'`, 'invalid option name');
    const ow = `${where} option '${name}'`;
    ctx.key(name, ow);
    if (Object.prototype.hasOwnProperty.call(options, name)) ctx.fail(ow, 'set twice');
    options[name] = ctx.value(o.text, ow);
  }
  // 4.2 kept the identity as an option; 4.3+ as an attribute
  let deviceId = a.identity ?? '*';
  if (options['identity'] !== undefined) {
    deviceId = options['identity'];
    delete options['identity'];
    if (!DEVICE_ID.test(deviceId)) ctx.fail(where, `invalid device identity '${printable(deviceId, 60)}'`);
  }
  let mode: DeviceAssignment['mode'];
  if (a.required !== undefined) {
    // backward compatibility (qubesd: persistent ⇒ required="yes"/"no")
    const req =
      propertyValueProblem('bool', a.required) === undefined ? normalisePropertyValue('bool', a.required) : undefined;
    if (req === undefined) ctx.fail(where, `invalid required='${printable(a.required, 20)}'`);
    mode = req === 'True' ? 'required' : 'auto-attach';
  } else {
    const m = a.mode ?? 'required';
    if (!(DEVICE_MODES as readonly string[]).includes(m)) {
      ctx.fail(where, `unknown assignment mode '${printable(m, 20)}' (known: ${DEVICE_MODES.join(', ')})`);
    }
    mode = m as DeviceAssignment['mode'];
  }
  return { devclass, backend, port, deviceId, mode, options: plain(options) };
}

/** References (property name → qube name) that name a qube absent from the archive. */
export function danglingReferences(
  system: ArchivedSystem,
): Array<{ qube: string | null; property: string; target: string }> {
  const names = new Set(system.qubes.map((q) => q.name));
  const out: Array<{ qube: string | null; property: string; target: string }> = [];
  for (const [prop, value] of Object.entries(system.globals)) {
    if (value !== '' && globalPropertyInfo(prop)?.type === 'vm' && !names.has(value))
      out.push({ qube: null, property: prop, target: value });
  }
  for (const q of system.qubes) {
    for (const [prop, value] of Object.entries(q.properties)) {
      if (value !== '' && propertyInfo(prop, q.klass)?.type === 'vm' && !names.has(value))
        out.push({ qube: q.name, property: prop, target: value });
    }
  }
  return out;
}
