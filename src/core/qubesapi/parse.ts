// Parsers of qubesd's success bodies (docs/design.md "Admin API contract"), pure and zod-checked. Each throws
// ReplyFormatError with a short description; the client adds which call it was.
import { z } from 'zod';
import { isValidQubeName } from '../names.ts';
import { PowerStateSchema, QubeClassSchema } from '../qubes/model.ts';

export class ReplyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyFormatError';
  }
}

function zodCheck<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
  throw new ReplyFormatError(`${what}${where}: ${issue?.message ?? 'invalid'}`);
}

/** `\n`-terminated lines; an empty body is an empty list. */
export function parseLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const NameLineSchema = z.string().regex(/^[^\s\0]+$/, 'a name without spaces');

/** A plain list of names (features, tags, volumes, pools, labels, device classes, …). */
export function parseNameList(text: string, what: string): string[] {
  return parseLines(text).map((l, i) => zodCheck(NameLineSchema, l, `${what} line ${i + 1}`));
}

// ---- admin.vm.List ------------------------------------------------------------------------

const QubeNameSchema = z.string().refine(isValidQubeName, 'not a valid qube name');

export const VmListEntrySchema = z.object({
  name: QubeNameSchema,
  klass: QubeClassSchema,
  state: PowerStateSchema,
  uuid: z
    .string()
    .regex(/^[0-9a-f-]{36}$/)
    .optional(),
});
export type VmListEntry = z.infer<typeof VmListEntrySchema>;

/** Splits `k=v k2=v2` (values without spaces) into a record; duplicate keys are refused. */
function tokens(line: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tok of line.split(' ')) {
    const eq = tok.indexOf('=');
    if (eq <= 0) throw new ReplyFormatError(`${what}: '${tok.slice(0, 40)}' is not key=value`);
    const key = tok.slice(0, eq);
    if (key in out) throw new ReplyFormatError(`${what}: duplicate key ${key}`);
    out[key] = tok.slice(eq + 1);
  }
  return out;
}

/** `<name> class=<Class> state=<State> uuid=<uuid>` per line. */
export function parseVmList(text: string): VmListEntry[] {
  return parseLines(text).map((line, i) => {
    const sp = line.indexOf(' ');
    if (sp <= 0) throw new ReplyFormatError(`qube list line ${i + 1} has no fields`);
    const kv = tokens(line.slice(sp + 1), `qube list line ${i + 1}`);
    return zodCheck(
      VmListEntrySchema,
      { name: line.slice(0, sp), klass: kv.class, state: kv.state, uuid: kv.uuid },
      `qube list line ${i + 1}`,
    );
  });
}

// ---- properties -----------------------------------------------------------------------------

export const PROPERTY_TYPES = ['bool', 'int', 'str', 'vm', 'label'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

export const PropertyValueSchema = z
  .object({
    /** true = no explicit value (computed or inherited); false = explicitly set */
    isDefault: z.boolean(),
    type: z.enum(PROPERTY_TYPES),
    /** the Admin API text; '' = None for vm, unset for int (docs/design.md "Admin API contract") */
    value: z.string(),
  })
  .superRefine((p, ctx) => {
    const bad = (m: string): void => ctx.addIssue({ code: 'custom', path: ['value'], message: m });
    if (p.type === 'bool' && p.value !== 'True' && p.value !== 'False' && p.value !== '')
      bad('bool must be True or False');
    if (p.type === 'int' && !/^(-?\d+)?$/.test(p.value)) bad('int must be decimal digits');
    if (p.type === 'vm' && p.value !== '' && !isValidQubeName(p.value)) bad('vm must be a qube name');
    if (p.type === 'label' && !/^[A-Za-z0-9_.-]*$/.test(p.value)) bad('label must be a label name');
  });
export type PropertyValue = z.infer<typeof PropertyValueSchema>;

const GET_BODY = /^default=(True|False) type=([a-z]+) ([\s\S]*)$/;

/** `default=<True|False> type=<type> <value>` — the value is the rest, may be empty or hold spaces. */
export function parsePropertyGet(text: string, what = 'property'): PropertyValue {
  const m = GET_BODY.exec(text);
  if (m === null) throw new ReplyFormatError(`${what}: expected 'default=X type=T value'`);
  return zodCheck(PropertyValueSchema, { isDefault: m[1] === 'True', type: m[2], value: m[3] }, what);
}

/** GetAll escapes `\` as `\\` and a newline as the two characters `\n`; nothing else. */
export function unescapeGetAll(value: string): string {
  if (!value.includes('\\')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = value[i + 1];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else throw new ReplyFormatError(`stray backslash in an escaped value`);
    i++;
  }
  return out;
}

const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `<name> default=<X> type=<T> <escaped value>` per line; order is not meaningful. */
export function parsePropertyGetAll(text: string): Map<string, PropertyValue> {
  const out = new Map<string, PropertyValue>();
  parseLines(text).forEach((line, i) => {
    const sp = line.indexOf(' ');
    const name = sp > 0 ? line.slice(0, sp) : '';
    if (!PROPERTY_NAME.test(name)) throw new ReplyFormatError(`property list line ${i + 1} has no property name`);
    if (out.has(name)) throw new ReplyFormatError(`property ${name} listed twice`);
    const p = parsePropertyGet(line.slice(sp + 1), `property ${name}`);
    out.set(name, { ...p, value: unescapeGetAll(p.value) });
  });
  return out;
}

export interface PropertyDefault {
  type: PropertyType;
  value: string;
}

/** `type=<T> <value>`, or an empty body when the property has no default (label, template, qid). */
export function parsePropertyDefault(text: string, what = 'property default'): PropertyDefault | undefined {
  if (text === '') return undefined;
  const m = /^type=([a-z]+) ([\s\S]*)$/.exec(text);
  if (m === null) throw new ReplyFormatError(`${what}: expected 'type=T value'`);
  const p = zodCheck(PropertyValueSchema, { isDefault: true, type: m[1], value: m[2] }, what);
  return { type: p.type, value: p.value };
}

// ---- key=value bodies ----------------------------------------------------------------------

/** `key=value` per line (pool.Info, volume.Info); values may hold spaces and be empty. */
export function parseKeyValueLines(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  parseLines(text).forEach((line, i) => {
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new ReplyFormatError(`${what} line ${i + 1} is not key=value`);
    if (key in out) throw new ReplyFormatError(`${what}: duplicate key ${key}`);
    out[key] = line.slice(eq + 1);
  });
  return out;
}

const Digits = z.string().regex(/^\d+$/, 'decimal digits').transform(Number);
const BoolText = z.enum(['True', 'False']).transform((v) => v === 'True');

/** admin.pool.Info: config keys (sorted), then size=, usage= (when known) and included_in=. */
export const PoolInfoSchema = z
  .record(z.string(), z.string())
  .pipe(
    z
      .object({
        name: z.string().min(1),
        driver: z.string().min(1),
        size: Digits.optional(),
        usage: Digits.optional(),
        included_in: z.string().optional(),
      })
      .catchall(z.string()),
  )
  .transform((r) => {
    const { size, usage, included_in, ...config } = r;
    return {
      name: r.name,
      driver: r.driver,
      /** every config key as text (dir_path, volume_group, thin_pool, revisions_to_keep, …) */
      config: config as Record<string, string>,
      size,
      usage,
      includedIn: included_in,
    };
  });
export type PoolInfo = z.output<typeof PoolInfoSchema>;

/** admin.pool.UsageDetails: `data_size=`/`data_usage=` (bytes; lvm_thin adds metadata_*); empty when unknown. */
export const PoolUsageSchema = z
  .record(z.string(), z.string())
  .pipe(z.object({ data_size: Digits.optional(), data_usage: Digits.optional() }).catchall(z.string()));
export type PoolUsage = z.output<typeof PoolUsageSchema>;

export function parsePoolUsage(text: string): PoolUsage {
  return zodCheck(PoolUsageSchema, parseKeyValueLines(text, 'pool usage'), 'pool usage');
}

export function parsePoolInfo(text: string): PoolInfo {
  return zodCheck(PoolInfoSchema, parseKeyValueLines(text, 'pool info'), 'pool info');
}

/** admin.vm.volume.Info. */
export const VolumeInfoSchema = z
  .object({
    pool: z.string().min(1),
    vid: z.string(),
    size: Digits,
    usage: Digits,
    rw: BoolText,
    source: z.string(),
    path: z.string(),
    save_on_stop: BoolText,
    snap_on_start: BoolText,
    revisions_to_keep: z
      .string()
      .regex(/^-?\d+$/)
      .transform(Number),
    ephemeral: BoolText.optional(),
    is_outdated: BoolText.optional(),
  })
  .transform((v) => ({
    pool: v.pool,
    vid: v.vid,
    size: v.size,
    usage: v.usage,
    rw: v.rw,
    source: v.source,
    path: v.path,
    saveOnStop: v.save_on_stop,
    snapOnStart: v.snap_on_start,
    revisionsToKeep: v.revisions_to_keep,
    ephemeral: v.ephemeral,
    isOutdated: v.is_outdated,
  }));
export type VolumeInfo = z.output<typeof VolumeInfoSchema>;

export function parseVolumeInfo(text: string): VolumeInfo {
  return zodCheck(VolumeInfoSchema, parseKeyValueLines(text, 'volume info'), 'volume info');
}

/** admin.vm.CurrentState: `mem=<KiB> mem_static_max=<KiB> cputime=<n> power_state=<State>`. */
export const CurrentStateSchema = z
  .object({ mem: Digits, mem_static_max: Digits, cputime: Digits, power_state: PowerStateSchema })
  .transform((s) => ({
    memKiB: s.mem,
    memStaticMaxKiB: s.mem_static_max,
    cputime: s.cputime,
    powerState: s.power_state,
  }));
export type CurrentState = z.output<typeof CurrentStateSchema>;

export function parseCurrentState(text: string): CurrentState {
  const line = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (line === '' || line.includes('\n')) throw new ReplyFormatError('current state: expected one line');
  return zodCheck(CurrentStateSchema, tokens(line, 'current state'), 'current state');
}

// ---- small scalars -------------------------------------------------------------------------

export function parseLabelColor(text: string): string {
  return zodCheck(z.string().regex(/^0x[0-9a-fA-F]{6}$/, 'a color 0xRRGGBB'), text.trim(), 'label color');
}

export function parseLabelIndex(text: string): number {
  return zodCheck(Digits, text.trim(), 'label index');
}

/** admin.vm.tag.Get → `1` / `0`. */
export function parseTagGet(text: string): boolean {
  return zodCheck(z.enum(['0', '1']), text, 'tag state') === '1';
}

/** admin.vm.firewall.Get: one rule per line, in order. */
export function parseFirewall(text: string): string[] {
  return parseLines(text).map((l, i) =>
    zodCheck(z.string().regex(/^[\x20-\x7e]+$/, 'printable ASCII'), l, `firewall rule ${i + 1}`),
  );
}
