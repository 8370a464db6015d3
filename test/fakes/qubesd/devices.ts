// Devices as qubesd 4.3+/4.4 serialises them (`key='value'` lists, design.md "Admin API contract") and as the
// 4.2 API did (`key=value` options + `persistent=yes`). Parsing follows the rules of
// qubes.device_protocol (allowed characters, expected port/backend/devclass), re-implemented.
import { DropConnection, protocolError, qerr, drop } from './errors.ts';
import type { AppState, Assignment, AssignmentMode, ExposedDevice, Qube } from './model.ts';
import { pyRepr, pySetRepr } from './py.ts';

const KEY_CHARS = new Set(
  '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&()*+,-./:;<>?@[\\]^_{|}~',
);
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const PARAM_CHARS = new Set([...KEY_CHARS, ...PUNCTUATION, ' ']);

export const MODES: readonly AssignmentMode[] = ['manual', 'ask-to-attach', 'auto-attach', 'required'];

/** The PCI functions of the lab machine (dom0's `admin.vm.device.pci.Available`, transcript seq 265). */
export const LAB_PCI_DEVICES: readonly ExposedDevice[] = [
  pci('00_00.0', '0x8086:0x0d57::p060000', "vendor='Intel Corporation' interfaces='p060000' _sbdf='0000:00:00.0'"),
  pci(
    '00_01.0',
    '0x1af4:0x1045::pffff00',
    "vendor='Red Hat, Inc.' product='Virtio 1.0 memory balloon' interfaces='pffff00' _sbdf='0000:00:01.0'",
  ),
  pci(
    '00_02.0',
    '0x1af4:0x1042::p018000',
    "vendor='Red Hat, Inc.' product='Virtio 1.0 block device' interfaces='p018000' _sbdf='0000:00:02.0'",
  ),
  pci(
    '00_03.0',
    '0x1af4:0x1041::p020000',
    "vendor='Red Hat, Inc.' product='Virtio 1.0 network device' interfaces='p020000' _sbdf='0000:00:03.0'",
  ),
  pci(
    '00_04.0',
    '0x1af4:0x1053::pffff00',
    "vendor='Red Hat, Inc.' product='Virtio 1.0 socket' interfaces='pffff00' _sbdf='0000:00:04.0'",
  ),
  pci(
    '00_05.0',
    '0x1af4:0x1044::pffff00',
    "vendor='Red Hat, Inc.' product='Virtio 1.0 RNG' interfaces='pffff00' _sbdf='0000:00:05.0'",
  ),
];

function pci(port: string, deviceId: string, extra: string): ExposedDevice {
  return { devclass: 'pci', backend: 'dom0', port, deviceId, extra };
}

export function quote(value: string): string {
  return `'${value.replace(/'/g, "\\'")}'`;
}

function sanitize(value: string, allowed: Set<string>, message: string): string {
  const bad = [...value].filter((c) => !allowed.has(c));
  if (bad.length > 0) throw protocolError(message + pySetRepr(bad));
  return value;
}

/** DeviceSerializer.unpack_properties: `k='v' k2='v2'` → (properties, options). */
export function unpackProperties(payload: Buffer): { props: Map<string, string>; options: Array<[string, string]> } {
  for (const b of payload) if (b > 0x7f) throw drop('UnicodeDecodeError in device payload');
  const text = payload.toString('latin1').trim();
  const props = new Map<string, string>();
  const options: Array<[string, string]> = [];
  if (text === '') return { props, options };
  const keys: string[] = [];
  const values: string[] = [];
  let idx = text.indexOf("='");
  let firstKey = idx < 0 ? text : text.slice(0, idx);
  let rest = idx < 0 ? '' : text.slice(idx + 2);
  keys.push(sanitize(firstKey.trim(), KEY_CHARS, 'Invalid chars in property name: '));
  while (rest.includes("='")) {
    idx = rest.indexOf("='");
    const valueKey = rest.slice(0, idx);
    rest = rest.slice(idx + 2);
    const sep = valueKey.lastIndexOf("' ");
    const value = sep < 0 ? '' : valueKey.slice(0, sep);
    const key = sep < 0 ? valueKey : valueKey.slice(sep + 2);
    values.push(sanitize(value.replace(/\\'/g, "'"), PARAM_CHARS, 'Invalid chars in property value: '));
    keys.push(sanitize(key.trim(), KEY_CHARS, 'Invalid chars in property name: '));
  }
  values.push(sanitize(rest.slice(0, -1).replace(/\\'/g, "'"), PARAM_CHARS, 'Invalid chars in property value: '));
  firstKey = '';
  keys.forEach((k, i) => {
    const v = values[i] as string;
    if (k.startsWith('_')) options.push([k.slice(1), v]);
    else props.set(k, v);
  });
  return { props, options };
}

export interface VirtualDevice {
  devclass: string;
  backend: string;
  port: string;
  deviceId: string;
}

/**
 * VirtualDevice.from_qarg: `<backend>+<port>[+<device id with ':' as '+'>]`. A missing backend
 * qube is a KeyError in qubesd (no reply); an argument without `+` a ValueError (no reply).
 */
export function deviceFromArg(app: AppState, devclass: string, arg: string): VirtualDevice {
  const plus = arg.indexOf('+');
  if (plus < 0) throw drop('ValueError: not enough values to unpack');
  let backend = arg.slice(0, plus);
  const identity = arg.slice(plus + 1);
  if (backend === '_') backend = '*';
  if (backend !== '*' && !app.qubes.has(backend)) throw drop(`KeyError: ${pyRepr(backend)}`);
  const colon = identity.replace(/\+/g, ':');
  const ci = colon.indexOf(':');
  let port = ci < 0 ? colon : colon.slice(0, ci);
  let devid = ci < 0 ? '' : colon.slice(ci + 1);
  if (port === '_') port = '*';
  if (devid === '_') devid = '*';
  devid = devid.replace(/_______/g, '?******');
  return { devclass, backend, port, deviceId: devid === '' ? '*' : devid };
}

/** DeviceAssignment.deserialize(payload, expected_device) */
export function deserializeAssignment(app: AppState, payload: Buffer, expected: VirtualDevice): Assignment {
  try {
    const { props, options } = unpackProperties(payload);
    const backend = props.get('backend_domain');
    if (backend !== undefined && backend !== expected.backend) {
      throw qerr(
        'UnexpectedDeviceProperty',
        `Got device exposed by ${backend}when expected devices from ${expected.backend}.`,
      );
    }
    props.delete('backend_domain');
    const port = props.get('port_id');
    if (port !== undefined && port !== expected.port) {
      throw qerr('UnexpectedDeviceProperty', `Got device from port: ${port} when expected port: ${expected.port}.`);
    }
    props.delete('port_id');
    const devclass = props.get('devclass');
    if (devclass !== undefined && devclass !== expected.devclass) {
      throw qerr('UnexpectedDeviceProperty', `Got ${devclass} device when expected ${expected.devclass}.`);
    }
    props.delete('devclass');
    let deviceId = props.get('device_id') ?? expected.deviceId;
    if (expected.deviceId !== '*' && deviceId !== expected.deviceId) {
      throw qerr(
        'UnexpectedDeviceProperty',
        `Unrecognized device identity '${deviceId}' expected '${expected.deviceId}'`,
      );
    }
    props.delete('device_id');
    if (deviceId === '') deviceId = '*';
    for (const key of props.keys()) {
      if (key !== 'mode' && key !== 'frontend_domain') {
        throw qerr('TypeError', `DeviceAssignment.__init__() got an unexpected keyword argument ${pyRepr(key)}`);
      }
    }
    const modeText = props.get('mode') ?? 'manual';
    if (!(MODES as readonly string[]).includes(modeText)) {
      throw qerr('ValueError', `${pyRepr(modeText)} is not a valid AssignmentMode`);
    }
    let frontend: string | null = null;
    const fe = props.get('frontend_domain');
    if (fe !== undefined) {
      if (expected.backend === '*') throw qerr('ProtocolError', 'Cannot determine backend domain');
      if (!app.qubes.has(fe)) throw qerr('KeyError', pyRepr(fe));
      frontend = fe;
    }
    return {
      devclass: expected.devclass,
      backend: expected.backend,
      port: expected.port,
      deviceId,
      mode: modeText as AssignmentMode,
      frontend,
      options,
    };
  } catch (e) {
    // qubesd wraps every exception of the deserialisation into ProtocolError(str(exc))
    if (e instanceof DropConnection) throw e;
    if (e instanceof Error && 'type' in e) throw protocolError(e.message);
    throw e;
  }
}

export function sameDevice(a: VirtualDevice, b: VirtualDevice): boolean {
  return a.backend === b.backend && a.port === b.port && a.deviceId === b.deviceId && a.devclass === b.devclass;
}

/** str(VirtualDevice): `backend:port:device_id` */
export function deviceStr(d: VirtualDevice): string {
  return `${d.backend}:${d.port}:${d.deviceId}`;
}

/** The sort key and first column of Assigned/Attached lines: `backend+port:device_id` */
export function deviceKey(d: VirtualDevice): string {
  return `${d.backend}+${d.port}:${d.deviceId}`;
}

/** DeviceAssignment.serialize() */
export function serializeAssignment(a: Assignment, deviceId = a.deviceId): string {
  const parts = [
    `device_id=${quote(deviceId)}`,
    `port_id=${quote(a.port)}`,
    `devclass=${quote(a.devclass)}`,
    `backend_domain=${quote(a.backend)}`,
    `mode=${quote(a.mode)}`,
  ];
  if (a.frontend !== null) parts.push(`frontend_domain=${quote(a.frontend)}`);
  for (const [k, v] of a.options) parts.push(`_${k}=${quote(v)}`);
  return parts.join(' ');
}

export function serializeExposed(d: ExposedDevice): string {
  const base =
    `device_id=${quote(d.deviceId)} port_id=${quote(d.port)} ` +
    `devclass=${quote(d.devclass)} backend_domain=${quote(d.backend)}`;
  return d.extra === '' ? base : `${base} ${d.extra}`;
}

export function exposedBy(app: AppState, backend: Qube, devclass: string): ExposedDevice[] {
  if (backend.klass !== 'AdminVM' && backend.power === 'Halted') return [];
  return app.exposed.filter((d) => d.backend === backend.name && d.devclass === devclass);
}

export function findExposed(app: AppState, devclass: string, backend: string, port: string): ExposedDevice | undefined {
  const q = app.qubes.get(backend);
  if (q === undefined) return undefined;
  return exposedBy(app, q, devclass).find((d) => d.port === port);
}

/** Lines `<key> <serialisation>\n`, sorted by key (Assigned, Attached, Available). */
export function deviceLines(entries: Array<[string, string]>): string {
  const byKey = new Map(entries);
  return [...byKey.keys()]
    .sort()
    .map((k) => `${k} ${byKey.get(k) as string}\n`)
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Qubes 4.2 form

/** 4.2 List line: `backend+port opt=value … persistent=yes|no` */
export function serialize42(a: Assignment, persistent: boolean): string {
  const opts = a.options.map(([k, v]) => `${k}=${v}`);
  opts.push(`persistent=${persistent ? 'yes' : 'no'}`);
  return opts.join(' ');
}

/** 4.2 Attach payload: `persistent=True opt=value …` */
export function parseAttach42(payload: Buffer): { persistent: boolean; options: Array<[string, string]> } {
  for (const b of payload) if (b > 0x7f) throw drop('UnicodeDecodeError in device options');
  const options: Array<[string, string]> = [];
  let persistent = false;
  const keyChars = /^[0-9A-Za-z._-]+$/;
  const valueChars = /^[0-9A-Za-z._,+:-]*$/;
  for (const opt of payload
    .toString('latin1')
    .split(/\s+/)
    .filter((s) => s !== '')) {
    const eq = opt.indexOf('=');
    if (eq < 0) throw protocolError('Invalid options format');
    const k = opt.slice(0, eq);
    const v = opt.slice(eq + 1);
    if (k === 'persistent') {
      const lc = v.toLowerCase();
      if (['1', 'yes', 'true', 'on'].includes(lc)) persistent = true;
      else if (['0', 'no', 'false', 'off'].includes(lc)) persistent = false;
      else throw qerr('QubesValueError', `Invalid literal for boolean property: ${pyRepr(v)}`);
    } else {
      if (!keyChars.test(k)) throw protocolError('Invalid chars in option name');
      if (!valueChars.test(v)) throw protocolError('Invalid chars in option value');
      options.push([k, v]);
    }
  }
  return { persistent, options };
}
