// Device assignments on the wire, both API generations, ↔ the shared DeviceAssignment type.
//
// Qubes 4.3+ (docs/design.md "Admin API contract"): `admin.vm.device.<c>.Assigned` answers one line per assignment,
//   `<backend>+<port>:<device_id> device_id='…' port_id='…' devclass='…' backend_domain='…'
//    mode='…' frontend_domain='…' _<option>='…'`
// values quoted with `'`, a `'` inside written `\'`; keys starting with `_` are options.
// `Assign`/`Unassign` take the argument `<backend>+<port>[+<device_id with ':' as '+'>]`
// (no device part when the identity is `*`, as in the recorded exchanges) and Assign the same
// `key='value'` list as payload, in qubesadmin's order.
//
// Qubes 4.2: `admin.vm.device.<c>.List` answers `<backend>+<ident> opt=value … persistent=yes|no`
// (attached and persistent devices; only `persistent=yes` ones are assignments), `Attach` takes
// `opt=value … persistent=True`, `Detach` no payload. 4.2 has no modes: a persistent device is
// attached whenever the qube starts, which Qubes 4.3 migrates to mode `required` (qubes.xml
// without a mode attribute loads as `required`); writing through 4.2 therefore drops the mode.
import { DeviceAssignmentSchema, type DeviceAssignment } from '../qubes/model.ts';
import { isValidQubeName } from '../names.ts';
import { ReplyFormatError, parseLines } from './parse.ts';
import {
  checkDeviceClass,
  checkDeviceId,
  checkDeviceOptionKey,
  checkDeviceOptionValue,
  checkPortId,
  checkQubeName,
} from './validate.ts';
import { WqError } from '../errors.ts';

const PAIR = /([^\s=']+)='((?:\\'|[^'])*)'(?: |$)/y;

/** Splits the `key='value' …` list; returns pairs in order. */
export function parseQuotedPairs(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  PAIR.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    PAIR.lastIndex = pos;
    const m = PAIR.exec(text);
    if (m === null) throw new ReplyFormatError(`bad key='value' pair at '${text.slice(pos, pos + 30)}'`);
    out.push([m[1]!, m[2]!.replaceAll("\\'", "'")]);
    pos = PAIR.lastIndex;
  }
  return out;
}

function quote(value: string): string {
  return `'${value.replaceAll("'", "\\'")}'`;
}

const ModeSchema = DeviceAssignmentSchema.shape.mode;

/** Splits `<backend>+<port>[:<device_id>]`. */
function splitHead(head: string): { backend: string; port: string; deviceId: string | undefined } {
  const plus = head.indexOf('+');
  if (plus <= 0) throw new ReplyFormatError(`device '${head.slice(0, 40)}' is not <backend>+<port>`);
  const backend = head.slice(0, plus);
  const rest = head.slice(plus + 1);
  const colon = rest.indexOf(':');
  return colon < 0
    ? { backend, port: rest, deviceId: undefined }
    : { backend, port: rest.slice(0, colon), deviceId: rest.slice(colon + 1) };
}

/** One `Assigned` line of class `devclass` → DeviceAssignment (cross-checked like qubesadmin). */
export function parseAssignedLine(line: string, devclass: string): DeviceAssignment {
  const sp = line.indexOf(' ');
  const head = sp < 0 ? line : line.slice(0, sp);
  const { backend, port, deviceId: headId } = splitHead(head);
  const props: Record<string, string> = {};
  const options: Record<string, string> = {};
  for (const [k, v] of sp < 0 ? [] : parseQuotedPairs(line.slice(sp + 1))) {
    if (k.startsWith('_')) options[k.slice(1)] = v;
    else props[k] = v;
  }
  const mismatch = (what: string, got: string, want: string): never => {
    throw new ReplyFormatError(`device ${head}: ${what} '${got}' where '${want}' was expected`);
  };
  if (props.backend_domain !== undefined && props.backend_domain !== backend)
    mismatch('backend_domain', props.backend_domain, backend);
  if (props.port_id !== undefined && props.port_id !== port) mismatch('port_id', props.port_id, port);
  if (props.devclass !== undefined && props.devclass !== devclass) mismatch('devclass', props.devclass, devclass);
  const deviceId = props.device_id ?? headId ?? '*';
  if (headId !== undefined && headId !== '*' && deviceId !== headId) mismatch('device_id', deviceId, headId);
  if (!isValidQubeName(backend)) throw new ReplyFormatError(`device ${head}: backend is not a qube name`);
  const mode = ModeSchema.safeParse(props.mode ?? 'required');
  if (!mode.success) throw new ReplyFormatError(`device ${head}: unknown mode '${props.mode ?? ''}'`);
  return DeviceAssignmentSchema.parse({ devclass, backend, port, deviceId, mode: mode.data, options });
}

export function parseAssigned(text: string, devclass: string): DeviceAssignment[] {
  return parseLines(text).map((l) => parseAssignedLine(l, devclass));
}

/** Validates an assignment before it is sent (each part ends up in the header or payload). */
export function checkAssignment(a: DeviceAssignment): DeviceAssignment {
  checkDeviceClass(a.devclass);
  checkQubeName(a.backend, 'device backend qube');
  checkPortId(a.port);
  checkDeviceId(a.deviceId);
  if (!ModeSchema.safeParse(a.mode).success)
    throw new WqError('input', `Invalid device assignment mode '${String(a.mode)}'.`);
  for (const [k, v] of Object.entries(a.options)) {
    checkDeviceOptionKey(k);
    checkDeviceOptionValue(k, v);
  }
  return a;
}

/** The argument of Assign/Unassign: `<backend>+<port>[+<device_id, ':'→'+'>]`. */
export function assignmentArg(a: Pick<DeviceAssignment, 'backend' | 'port' | 'deviceId'>): string {
  return a.deviceId === '*' ? `${a.backend}+${a.port}` : `${a.backend}+${a.port}+${a.deviceId.replaceAll(':', '+')}`;
}

/** The Assign payload, in qubesadmin's order (as recorded). */
export function assignmentPayload(a: DeviceAssignment, frontend: string): string {
  const parts: Array<[string, string]> = [
    ['device_id', a.deviceId],
    ['port_id', a.port],
    ['devclass', a.devclass],
    ['backend_domain', a.backend],
    ['mode', a.mode],
    ['frontend_domain', frontend],
    ...Object.entries(a.options).map(([k, v]): [string, string] => [`_${k}`, v]),
  ];
  return parts.map(([k, v]) => `${k}=${quote(v)}`).join(' ');
}

// ---- Qubes 4.2 -------------------------------------------------------------------------------

const LEGACY_VALUE = /^[A-Za-z0-9_.,+:-]*$/;

/** `admin.vm.device.<c>.List` → the persistent entries as assignments (mode `required`). */
export function parseLegacyList(text: string, devclass: string): DeviceAssignment[] {
  const out: DeviceAssignment[] = [];
  for (const line of parseLines(text)) {
    const [head = '', ...rest] = line.split(' ');
    const { backend, port } = splitHead(head);
    if (!isValidQubeName(backend)) throw new ReplyFormatError(`device ${head}: backend is not a qube name`);
    const options: Record<string, string> = {};
    let persistent: boolean | undefined;
    for (const tok of rest) {
      const eq = tok.indexOf('=');
      if (eq <= 0) throw new ReplyFormatError(`device ${head}: '${tok.slice(0, 30)}' is not opt=value`);
      const k = tok.slice(0, eq);
      const v = tok.slice(eq + 1);
      if (k !== 'persistent') options[k] = v;
      else if (v === 'yes' || v === 'no') persistent = v === 'yes';
      else throw new ReplyFormatError(`device ${head}: persistent must be yes or no`);
    }
    if (persistent === undefined) throw new ReplyFormatError(`device ${head}: no persistent= field`);
    if (persistent) out.push({ devclass, backend, port, deviceId: '*', mode: 'required', options });
  }
  return out;
}

/** 4.2 `Attach` payload for a persistent assignment (options have no `_` there). */
export function legacyAttachPayload(a: DeviceAssignment): string {
  const parts = Object.entries(a.options).map(([k, v]) => {
    if (!LEGACY_VALUE.test(v)) {
      throw new WqError(
        'input',
        `Device option ${k}='${v}' cannot be sent to a Qubes 4.2 qubesd (allowed: letters, digits, "_.,+:-").`,
      );
    }
    return `${k}=${v}`;
  });
  return [...parts, 'persistent=True'].join(' ');
}
