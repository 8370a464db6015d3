// The Admin API methods: qubesd's dispatch (source/destination decoding, method lookup, the
// argument/payload/destination checks in that order) and one handler per method.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DropConnection, QubesdError, drop, protocolError, qerr } from './errors.ts';
import {
  LAB_PCI_DEVICES,
  deserializeAssignment,
  deviceFromArg,
  deviceKey,
  deviceLines,
  deviceStr,
  exposedBy,
  findExposed,
  parseAttach42,
  sameDevice,
  serialize42,
  serializeAssignment,
  serializeExposed,
  type VirtualDevice,
} from './devices.ts';
import { activeRules, firewallXml, parseFirewallRules } from './firewall.ts';
import { GLOBAL_HELP, VM_HELP, VM_HELP_BY_CLASS } from './help-texts.ts';
import { createQube, killQube, pauseQube, removeQube, shutdownQube, startQube, unpauseQube } from './lifecycle.ts';
import type { AppState, Assignment, AssignmentMode, Qube } from './model.ts';
import {
  addTag,
  deleteFeature,
  labelByText,
  resetGlobalProperty,
  resetVmProperty,
  setFeature,
  setGlobalProperty,
  setVmProperty,
  validateName,
} from './mutate.ts';
import {
  featureWithNetvm,
  featureWithTemplate,
  globalProp,
  globalPropDefault,
  globalPropIsDefault,
  globalSpec,
  globalSpecs,
  isHalted,
  isRunning,
  serialize,
  serializeDefault,
  vmProp,
  vmPropDefault,
  vmPropIsDefault,
  vmSpec,
  vmSpecs,
  wireType,
} from './props.ts';
import { isAsciiBytes, isDigits, pyRepr } from './py.ts';
import {
  POOL_DRIVERS,
  importVolume,
  isKernelVolume,
  isOutdated,
  poolConfig,
  poolIncludedIn,
  poolUsage,
  qubeDir,
  resizeVolume,
  volumeReportedPath,
  volumeRevisions,
  volumeSize,
  volumeUsage,
  volumeVid,
} from './storage.ts';
import type { WireRequest } from './wire.ts';

export { LAB_PCI_DEVICES };

export const VM_CLASSES = ['AppVM', 'TemplateVM', 'StandaloneVM', 'AdminVM', 'DispVM', 'RemoteVM'] as const;

export type MethodKind = 'read' | 'write' | 'execute';

export interface Call {
  app: AppState;
  src: Qube;
  dest: Qube;
  method: string;
  arg: string;
  payload: Buffer;
  endpoint: string;
}

export interface MethodDef {
  /** true: needs one; false: refuses one; null: no check */
  wantsArg: boolean | null;
  wantsPayload: boolean | null;
  destAdminvm: boolean | null;
  kind: MethodKind;
  endpoint: string;
  run: (c: Call) => string | null | void;
}

/** Methods of qubesd 4.4 the fake does not implement: answered with QubesNotImplementedError. */
export const NOT_IMPLEMENTED = [
  'admin.Events',
  'admin.vm.Stats',
  'admin.vm.Console',
  'admin.vm.Suspend',
  'admin.vm.Resume',
  'admin.vm.CreateDisposable',
  'admin.vm.volume.Clear',
  'admin.vm.notes.Set',
  'admin.backup.Execute',
  'admin.backup.Cancel',
  'admin.backup.Info',
  'admin.pool.Add',
  'admin.pool.Remove',
  'admin.vm.device.denied.Add',
  'admin.vm.device.denied.Remove',
] as const;

// ---------------------------------------------------------------------------------------------
// dispatch

export interface Dispatched {
  /** the reply bytes, or null: close without answering */
  reply: Buffer | null;
  method: string;
  arg: string;
  src: string;
  dest: string;
  kind: MethodKind | 'invalid';
  outcome: 'ok' | 'exception' | 'dropped';
  excType?: string;
  why?: string;
}

const UUID_ARG = /^uuid:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]*/;

/** qubes.api.decode_vm */
function decodeVm(app: AppState, raw: Buffer): Qube {
  if (!isAsciiBytes(raw)) throw drop('UnicodeDecodeError in qube name');
  const text = raw.toString('latin1');
  if (text.startsWith('uuid:')) {
    if (text.length !== 41 || !UUID_ARG.test(text))
      throw qerr('QubesVMInvalidUUIDError', `VM UUID is not valid: ${pyRepr(text.slice(5))}`);
    const uuid = text.slice(5);
    for (const q of app.qubes.values()) if (q.uuid === uuid) return q;
    throw qerr('QubesVMNotFoundError', `No such domain: ${pyRepr(text)}`);
  }
  validateName(text);
  const q = app.qubes.get(text);
  if (q === undefined) throw qerr('QubesVMNotFoundError', `No such domain: ${pyRepr(text)}`);
  return q;
}

export function dispatch(app: AppState, req: WireRequest): Dispatched {
  const base = {
    method: req.method.toString('latin1'),
    arg: req.arg.toString('latin1'),
    src: req.src.toString('latin1'),
    dest: req.dest.toString('latin1'),
  };
  let kind: MethodKind | 'invalid' = 'invalid';
  try {
    const src = decodeVm(app, req.src);
    const dest = decodeVm(app, req.dest);
    if (!isAsciiBytes(req.arg) || !isAsciiBytes(req.method)) throw drop('UnicodeDecodeError in method or argument');
    const table = methodTable(app);
    const def = table.get(base.method);
    if ((NOT_IMPLEMENTED as readonly string[]).includes(base.method)) {
      throw qerr('QubesNotImplementedError', `fake qubesd does not implement ${base.method}`);
    }
    if (def === undefined) throw protocolError(`no such method: ${pyRepr(base.method)}`);
    kind = def.kind;
    if (def.wantsPayload === true && req.payload.length === 0) throw protocolError('expected payload');
    if (def.wantsPayload === false && req.payload.length > 0) throw protocolError('unexpected payload');
    // 4.2 has no such check: the handler looks the empty argument up (e.g. property '')
    if (def.wantsArg === true && base.arg === '' && app.api !== '4.2') throw protocolError('expected an argument');
    if (def.wantsArg === false && base.arg !== '') throw protocolError('unexpected argument');
    if (def.destAdminvm === true && dest.klass !== 'AdminVM') throw protocolError('expected destination to be AdminVM');
    if (def.destAdminvm === false && dest.klass === 'AdminVM')
      throw protocolError('expected destination to not be AdminVM');
    const body = def.run({
      app,
      src,
      dest,
      method: base.method,
      arg: base.arg,
      payload: req.payload,
      endpoint: def.endpoint,
    });
    return { ...base, kind, outcome: 'ok', reply: okReply(body ?? null) };
  } catch (e) {
    // qubesd 4.2 (qubes/api/__init__.py, respond): ProtocolError and PermissionDenied are logged
    // and the connection is aborted — no `2\0` reply, as for an unknown method (recorded in
    // test/data/qubesd-r4.2); 4.3+ sends them as exceptions
    if (
      e instanceof QubesdError &&
      app.api === '4.2' &&
      (e.type === 'ProtocolError' || e.type === 'PermissionDenied')
    ) {
      return { ...base, kind, outcome: 'dropped', why: `${e.type}: ${e.message}`, reply: null };
    }
    if (e instanceof QubesdError) {
      return { ...base, kind, outcome: 'exception', excType: e.type, reply: excReply(e.type, e.message) };
    }
    if (e instanceof DropConnection) return { ...base, kind, outcome: 'dropped', why: e.why, reply: null };
    return {
      ...base,
      kind,
      outcome: 'dropped',
      why: e instanceof Error ? `fake qubesd bug: ${e.stack ?? e.message}` : String(e),
      reply: null,
    };
  }
}

/** qubesd's read/write/execute classification of a method name (for the call log) */
export function classify(app: AppState, method: string): MethodKind | 'invalid' {
  return methodTable(app).get(method)?.kind ?? 'invalid';
}

function okReply(body: string | null): Buffer {
  return Buffer.concat([Buffer.from([0x30, 0]), Buffer.from(body ?? '', 'utf8')]);
}

function excReply(type: string, message: string): Buffer {
  return Buffer.concat([Buffer.from([0x32, 0]), Buffer.from(`${type}\0\0${message}\0`, 'utf8')]);
}

// ---------------------------------------------------------------------------------------------
// the method table

function m(
  wantsArg: boolean | null,
  wantsPayload: boolean | null,
  destAdminvm: boolean | null,
  kind: MethodKind,
  run: (c: Call) => string | null | void,
  endpoint = '',
): MethodDef {
  return { wantsArg, wantsPayload, destAdminvm, kind, run, endpoint };
}

const tableCache = new WeakMap<AppState, { key: string; table: Map<string, MethodDef> }>();

export function methodTable(app: AppState): Map<string, MethodDef> {
  const key = `${app.api}|${app.deviceClasses.join(',')}`;
  const cached = tableCache.get(app);
  if (cached !== undefined && cached.key === key) return cached.table;
  const t = new Map<string, MethodDef>();
  t.set(
    'admin.vmclass.List',
    m(false, false, true, 'read', () =>
      VM_CLASSES.filter((k) => app.api !== '4.2' || k !== 'RemoteVM')
        .map((k) => `${k}\n`)
        .join(''),
    ),
  );
  t.set('admin.vm.List', m(false, false, null, 'read', vmList));
  // properties
  t.set(
    'admin.vm.property.List',
    m(false, false, null, 'read', (c) =>
      vmSpecs(c.app, c.dest)
        .map((s) => `${s.name}\n`)
        .join(''),
    ),
  );
  t.set(
    'admin.property.List',
    m(false, false, true, 'read', (c) =>
      globalSpecs(c.app)
        .map((s) => `${s.name}\n`)
        .join(''),
    ),
  );
  t.set('admin.vm.property.Get', m(true, false, null, 'read', vmPropertyGet));
  t.set('admin.property.Get', m(true, false, true, 'read', globalPropertyGet));
  t.set('admin.vm.property.GetAll', m(false, false, null, 'read', vmPropertyGetAll));
  t.set('admin.property.GetAll', m(false, false, true, 'read', globalPropertyGetAll));
  t.set('admin.vm.property.GetDefault', m(true, false, null, 'read', vmPropertyGetDefault));
  t.set('admin.property.GetDefault', m(true, false, true, 'read', globalPropertyGetDefault));
  t.set(
    'admin.vm.property.Set',
    m(true, null, null, 'write', (c) => setVmProperty(c.app, c.dest, vmSpecOrFail(c), c.payload)),
  );
  t.set(
    'admin.property.Set',
    m(true, null, true, 'write', (c) => setGlobalProperty(c.app, globalSpecOrFail(c), c.payload)),
  );
  t.set(
    'admin.vm.property.Reset',
    m(true, false, null, 'write', (c) => resetVmProperty(c.app, c.dest, vmSpecOrFail(c))),
  );
  t.set(
    'admin.property.Reset',
    m(true, false, true, 'write', (c) => resetGlobalProperty(c.app, globalSpecOrFail(c))),
  );
  t.set('admin.vm.property.Help', m(true, false, null, 'read', vmPropertyHelp));
  t.set(
    'admin.property.Help',
    m(true, false, true, 'read', (c) => GLOBAL_HELP[globalSpecOrFail(c).name] ?? ''),
  );
  // volumes
  t.set(
    'admin.vm.volume.List',
    m(false, false, null, 'read', (c) => [...c.dest.volumes.keys()].map((n) => `${n}\n`).join('')),
  );
  t.set('admin.vm.volume.Info', m(true, false, null, 'read', volumeInfo));
  t.set(
    'admin.vm.volume.ListSnapshots',
    m(true, false, null, 'read', (c) =>
      volumeRevisions(c.app, volumeArg(c))
        .map(([r]) => `${r}\n`)
        .join(''),
    ),
  );
  t.set('admin.vm.volume.Revert', m(true, true, null, 'write', volumeRevert));
  t.set('admin.vm.volume.CloneFrom', m(true, false, null, 'write', volumeCloneFrom));
  t.set('admin.vm.volume.CloneTo', m(true, true, null, 'write', volumeCloneTo));
  t.set('admin.vm.volume.Resize', m(true, true, null, 'write', volumeResize));
  t.set('admin.vm.volume.Set.revisions_to_keep', m(true, true, null, 'write', volumeSetRevisions));
  t.set('admin.vm.volume.Set.rw', m(true, true, null, 'write', volumeSetRw));
  t.set('admin.vm.volume.Set.ephemeral', m(true, true, null, 'write', volumeSetEphemeral));
  // tags
  t.set(
    'admin.vm.tag.List',
    m(false, false, null, 'read', (c) =>
      [...c.dest.tags]
        .sort()
        .map((x) => `${x}\n`)
        .join(''),
    ),
  );
  t.set(
    'admin.vm.tag.Get',
    m(true, false, null, 'read', (c) => (validateTag(c.arg), c.dest.tags.has(c.arg) ? '1' : '0')),
  );
  t.set('admin.vm.tag.Set', m(true, false, null, 'write', tagSet));
  t.set('admin.vm.tag.Remove', m(true, false, null, 'write', tagRemove));
  // pools and labels
  t.set(
    'admin.pool.List',
    m(false, false, true, 'read', (c) => [...c.app.pools.keys()].map((p) => `${p}\n`).join('')),
  );
  t.set(
    'admin.pool.ListDrivers',
    m(false, false, true, 'read', () => POOL_DRIVERS.map(([d, ps]) => `${d} ${ps.join(' ')}\n`).join('')),
  );
  t.set('admin.pool.Info', m(true, false, true, 'read', poolInfo));
  t.set('admin.pool.UsageDetails', m(true, false, true, 'read', poolUsageDetails));
  t.set('admin.pool.volume.List', m(true, false, true, 'read', poolVolumeList));
  t.set('admin.pool.Set.revisions_to_keep', m(true, true, true, 'write', poolSetRevisions));
  t.set('admin.pool.Set.ephemeral_volatile', m(true, true, true, 'write', poolSetEphemeral));
  t.set(
    'admin.label.List',
    m(false, false, true, 'read', (c) => c.app.labels.map((l) => `${l.name}\n`).join('')),
  );
  t.set(
    'admin.label.Get',
    m(true, false, true, 'read', (c) => labelOf(c).color),
  );
  t.set(
    'admin.label.Index',
    m(true, false, true, 'read', (c) => String(labelOf(c).index)),
  );
  t.set('admin.label.Create', m(true, true, true, 'write', labelCreate));
  t.set('admin.label.Remove', m(true, false, true, 'write', labelRemove));
  // power
  t.set(
    'admin.vm.Start',
    m(false, false, null, 'execute', (c) => startQube(c.app, c.dest)),
  );
  t.set('admin.vm.Shutdown', m(null, false, null, 'execute', vmShutdown));
  t.set(
    'admin.vm.Pause',
    m(false, false, null, 'execute', (c) => pauseQube(c.dest)),
  );
  t.set(
    'admin.vm.Unpause',
    m(false, false, null, 'execute', (c) => unpauseQube(c.dest)),
  );
  t.set(
    'admin.vm.Kill',
    m(false, false, null, 'execute', (c) => killQube(c.app, c.dest)),
  );
  t.set('admin.vm.CurrentState', m(false, false, null, 'read', currentState));
  // features
  t.set(
    'admin.vm.feature.List',
    m(false, false, null, 'read', (c) => [...c.dest.features.keys()].map((f) => `${f}\n`).join('')),
  );
  t.set(
    'admin.vm.feature.Get',
    m(true, false, null, 'read', (c) => featureOrFail(c, c.dest.features.get(c.arg))),
  );
  t.set(
    'admin.vm.feature.CheckWithTemplate',
    m(true, false, null, 'read', (c) => featureOrFail(c, featureWithTemplate(c.app, c.dest, c.arg))),
  );
  t.set(
    'admin.vm.feature.CheckWithNetvm',
    m(true, false, null, 'read', (c) => featureOrFail(c, featureWithNetvm(c.app, c.dest, c.arg))),
  );
  t.set(
    'admin.vm.feature.CheckWithAdminVM',
    m(true, false, null, 'read', (c) => featureOrFail(c, withAdmin(c, c.dest.features.get(c.arg)))),
  );
  t.set(
    'admin.vm.feature.CheckWithTemplateAndAdminVM',
    m(true, false, null, 'read', (c) => featureOrFail(c, withAdmin(c, featureWithTemplate(c.app, c.dest, c.arg)))),
  );
  t.set('admin.vm.feature.Remove', m(true, false, null, 'write', featureRemove));
  t.set('admin.vm.feature.Set', m(true, null, null, 'write', featureSet));
  // create / remove
  for (const klass of VM_CLASSES) {
    t.set(
      `admin.vm.Create.${klass}`,
      m(null, null, true, 'write', (c) => vmCreate(c, false), klass),
    );
    t.set(
      `admin.vm.CreateInPool.${klass}`,
      m(null, null, true, 'write', (c) => vmCreate(c, true), klass),
    );
  }
  t.set(
    'admin.vm.Remove',
    m(false, false, null, 'write', (c) => removeQube(c.app, c.dest)),
  );
  // devices
  t.set(
    'admin.deviceclass.List',
    m(false, false, true, 'read', (c) => c.app.deviceClasses.map((d) => `${d}\n`).join('')),
  );
  for (const dc of app.deviceClasses) {
    t.set(`admin.vm.device.${dc}.Available`, m(null, false, null, 'read', deviceAvailable, dc));
    if (app.api === '4.2') {
      t.set(`admin.vm.device.${dc}.List`, m(null, false, null, 'read', deviceList42, dc));
      t.set(`admin.vm.device.${dc}.Attach`, m(true, null, null, 'write', deviceAttach42, dc));
      t.set(`admin.vm.device.${dc}.Detach`, m(true, false, null, 'write', deviceDetach42, dc));
      t.set(`admin.vm.device.${dc}.Set.persistent`, m(true, null, null, 'write', deviceSetPersistent42, dc));
    } else {
      t.set(`admin.vm.device.${dc}.Assigned`, m(null, false, null, 'read', deviceAssigned, dc));
      t.set(`admin.vm.device.${dc}.Attached`, m(null, false, null, 'read', deviceAttached, dc));
      t.set(`admin.vm.device.${dc}.Assign`, m(true, true, null, 'write', deviceAssign, dc));
      t.set(`admin.vm.device.${dc}.Unassign`, m(true, false, null, 'write', deviceUnassign, dc));
      t.set(`admin.vm.device.${dc}.Attach`, m(true, null, null, 'execute', deviceAttach, dc));
      t.set(`admin.vm.device.${dc}.Detach`, m(true, false, null, 'execute', deviceDetach, dc));
      t.set(`admin.vm.device.${dc}.Set.assignment`, m(true, true, null, 'write', deviceSetAssignment, dc));
    }
  }
  if (app.api !== '4.2')
    t.set(
      'admin.vm.device.denied.List',
      m(false, false, null, 'read', (c) => deniedList(c)),
    );
  // firewall, notes
  t.set(
    'admin.vm.firewall.Get',
    m(false, false, false, 'read', (c) =>
      activeRules(c.dest.firewall ?? ['action=accept'])
        .map((r) => `${r}\n`)
        .join(''),
    ),
  );
  t.set('admin.vm.firewall.Set', m(false, true, false, 'write', firewallSet));
  t.set(
    'admin.vm.firewall.Reload',
    m(false, false, false, 'execute', () => undefined),
  );
  t.set(
    'admin.vm.notes.Get',
    m(false, false, false, 'read', (c) => c.dest.notes),
  );
  tableCache.set(app, { key, table: t });
  return t;
}

// ---------------------------------------------------------------------------------------------
// handlers

function vmList(c: Call): string {
  const qubes = c.dest.name === 'dom0' ? [...c.app.qubes.values()] : [c.dest];
  qubes.sort((a, b) => {
    if (a.klass === 'AdminVM') return -1;
    if (b.klass === 'AdminVM') return 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  // 4.2 lists no uuid
  const uuid = (q: Qube): string => (c.app.api === '4.2' ? '' : ` uuid=${q.uuid}`);
  return qubes.map((q) => `${q.name} class=${q.klass} state=${q.power}${uuid(q)}\n`).join('');
}

function vmSpecOrFail(c: Call) {
  const spec = vmSpec(c.app, c.dest, c.arg);
  if (spec === undefined) throw qerr('QubesNoSuchPropertyError', `Invalid property ${pyRepr(c.arg)} of ${c.dest.name}`);
  return spec;
}

function globalSpecOrFail(c: Call) {
  const spec = globalSpec(c.app, c.arg);
  if (spec === undefined) throw qerr('QubesNoSuchPropertyError', `Invalid property ${pyRepr(c.arg)} of Qubes`);
  return spec;
}

function vmPropertyGet(c: Call): string {
  const spec = vmSpecOrFail(c);
  return serialize(wireType(c.app, spec), vmProp(c.app, c.dest, spec.name), vmPropIsDefault(c.dest, spec.name));
}

function globalPropertyGet(c: Call): string {
  const spec = globalSpecOrFail(c);
  return serialize(spec.type, globalProp(c.app, spec.name), globalPropIsDefault(c.app, spec.name));
}

function escapeGetAll(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function vmPropertyGetAll(c: Call): string {
  return vmSpecs(c.app, c.dest)
    .map((s) => {
      const text = serialize(wireType(c.app, s), vmProp(c.app, c.dest, s.name), vmPropIsDefault(c.dest, s.name));
      return `${s.name} ${escapeGetAll(text)}\n`;
    })
    .join('');
}

function globalPropertyGetAll(c: Call): string {
  return globalSpecs(c.app)
    .map(
      (s) =>
        `${s.name} ${escapeGetAll(serialize(s.type, globalProp(c.app, s.name), globalPropIsDefault(c.app, s.name)))}\n`,
    )
    .join('');
}

function vmPropertyGetDefault(c: Call): string | null {
  const spec = vmSpecOrFail(c);
  if (c.dest.klass !== 'AdminVM' && (spec.name === 'name' || spec.name === 'qid' || spec.name === 'uuid')) return null;
  return serializeDefault(spec.type, vmPropDefault(c.app, c.dest, spec.name));
}

function globalPropertyGetDefault(c: Call): string | null {
  const spec = globalSpecOrFail(c);
  return serializeDefault(spec.type, globalPropDefault(c.app, spec.name));
}

function vmPropertyHelp(c: Call): string {
  const spec = vmSpecOrFail(c);
  return VM_HELP_BY_CLASS[c.dest.klass]?.[spec.name] ?? VM_HELP[spec.name] ?? '';
}

// --- volumes ---

function volumeArg(c: Call) {
  if (c.dest.klass === 'AdminVM' || c.dest.klass === 'RemoteVM' || !c.dest.volumes.has(c.arg)) {
    throw qerr('PermissionDenied', `Argument not in ${pyRepr(`${c.dest.name} volumes`)}`);
  }
  return c.dest.volumes.get(c.arg) as NonNullable<ReturnType<Qube['volumes']['get']>>;
}

function volumeInfo(c: Call): string {
  const vol = volumeArg(c);
  const src = vol.source;
  const lines: Array<[string, string]> = [
    ['pool', vol.pool],
    ['vid', volumeVid(c.app, c.dest, vol)],
    ['size', String(volumeSize(c.app, vol))],
    ['usage', String(volumeUsage(c.app, vol))],
    ['rw', vol.rw ? 'True' : 'False'],
    ['source', src ?? ''],
    ['path', volumeReportedPath(c.app, c.dest, vol)],
    ['save_on_stop', vol.saveOnStop ? 'True' : 'False'],
    ['snap_on_start', vol.snapOnStart ? 'True' : 'False'],
    ['revisions_to_keep', String(isKernelVolume(c.app, vol) ? 0 : vol.revisionsToKeep)],
    ['ephemeral', effectiveEphemeral(c.app, vol) ? 'True' : 'False'],
    ['is_outdated', isOutdated(c.app, vol) ? 'True' : 'False'],
  ];
  return lines.map(([k, v]) => `${k}=${v}\n`).join('');
}

function effectiveEphemeral(
  app: AppState,
  vol: { ephemeral: boolean | null; snapOnStart: boolean; saveOnStop: boolean; rw: boolean; pool: string },
): boolean {
  if (vol.ephemeral !== null) return vol.ephemeral;
  if (vol.snapOnStart || vol.saveOnStop || !vol.rw) return false;
  const pool = app.pools.get(vol.pool);
  return pool?.config.get('ephemeral_volatile') === 'True';
}

/** Api.validate_number */
function validateNumber(raw: Buffer, name: string, allowNegative = false): number {
  let text = raw.toString('latin1');
  let sign = 1;
  if (allowNegative && text.startsWith('-')) {
    sign = -1;
    text = text.slice(1);
  }
  const cap = name.charAt(0).toUpperCase() + name.slice(1).toLowerCase();
  if (!isDigits(text)) throw protocolError(`${cap} contains non ASCII digits`);
  if (text.length >= 20) throw protocolError(`${cap} is bigger than 19 decimal digits`);
  if (text.startsWith('0') && text !== '0') throw protocolError(`${cap} contains spurious leading zeros`);
  return sign * Number(text);
}

function volumeResize(c: Call): void {
  const vol = volumeArg(c);
  const size = validateNumber(Buffer.from(c.payload.toString('latin1').trim(), 'latin1'), 'volume size');
  resizeVolume(c.app, vol, size);
}

function volumeSetRevisions(c: Call): void {
  const vol = volumeArg(c);
  const n = validateNumber(c.payload, 'revisions to keep', true);
  if (n < -1) throw qerr('QubesValueError', 'Invalid value for revisions_to_keep');
  const switching = n !== vol.revisionsToKeep && (vol.revisionsToKeep === -1 || n === -1);
  if (isRunning(c.dest) && switching)
    throw qerr('QubesVMNotHaltedError', `Domain is not powered off: ${pyRepr(c.dest.name)}`);
  if (isKernelVolume(c.app, vol)) {
    if (n !== 0) throw qerr('QubesValueError', 'LinuxModules supports only revisions_to_keep=0');
    return;
  }
  vol.revisionsToKeep = n;
}

function boolPayload(c: Call): boolean {
  const t = isAsciiBytes(c.payload) ? c.payload.toString('latin1').toLowerCase() : '\u0000';
  if (['1', 'yes', 'true', 'on'].includes(t)) return true;
  if (['0', 'no', 'false', 'off'].includes(t)) return false;
  throw protocolError('Payload is not boolean ASCII');
}

function volumeSetRw(c: Call): void {
  const vol = volumeArg(c);
  const v = boolPayload(c);
  if (!isHalted(c.dest)) throw qerr('QubesVMNotHaltedError', `Domain is not powered off: ${pyRepr(c.dest.name)}`);
  if (isKernelVolume(c.app, vol) && v) throw qerr('QubesValueError', 'LinuxModules supports only read-only volumes');
  vol.rw = v;
}

function volumeSetEphemeral(c: Call): void {
  const vol = volumeArg(c);
  const v = boolPayload(c);
  if (isKernelVolume(c.app, vol))
    throw qerr('QubesValueError', 'LinuxModules does not support setting ephemeral value');
  if (!v) {
    vol.ephemeral = false;
    return;
  }
  if (vol.snapOnStart || vol.saveOnStop || !vol.rw) {
    throw qerr(
      'QubesValueError',
      'Cannot enable ephemeral on snap_on_start or save_on_stop or non-dom0 or not writable volume',
    );
  }
  vol.ephemeral = true;
}

function volumeRevert(c: Call): void {
  const vol = volumeArg(c);
  const rev = c.payload.toString('latin1').trim();
  if (!/^[A-Za-z0-9:._-]*$/.test(rev)) {
    throw protocolError(
      'Revision name must be in safe set: abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.',
    );
  }
  const revs = volumeRevisions(c.app, vol);
  if (!revs.some(([r]) => r === rev)) throw drop('QubesVolumeRevisionNotFoundError (a KeyError)');
  throw qerr('QubesNotImplementedError', 'fake qubesd does not implement admin.vm.volume.Revert');
}

function volumeCloneFrom(c: Call): string {
  const vol = volumeArg(c);
  const token = randomBytes(24).toString('base64').replace(/[+/=]/g, '').slice(0, 32).padEnd(32, 'x');
  c.app.cloneTokens.set(token, { qube: c.dest.name, volume: c.arg, pool: vol.pool, vid: vol.vid });
  return token;
}

function volumeCloneTo(c: Call): void {
  const dst = volumeArg(c);
  if (!isAsciiBytes(c.payload)) throw protocolError('Token contains non-ASCII characters');
  const token = c.payload.toString('latin1').trim();
  const entry = c.app.cloneTokens.get(token);
  if (entry === undefined)
    throw qerr('QubesVolumeCopyTokenNotFoundError', pyRepr('Token to clone volume of qube was not found'));
  c.app.cloneTokens.delete(token);
  if (!c.app.pools.has(entry.pool)) throw drop('QubesPoolNotFoundError (a KeyError)');
  let src: ReturnType<Qube['volumes']['get']>;
  for (const q of c.app.qubes.values())
    for (const v of q.volumes.values()) if (v.pool === entry.pool && v.vid === entry.vid) src = v;
  if (src === undefined) throw drop('QubesVolumeNotFoundError (a KeyError)');
  importVolume(c.app, dst, src);
}

// --- firewall ---

/** admin.vm.firewall.Set: the rules, saved like qubesd to `<qube dir>/firewall.xml` */
function firewallSet(c: Call): void {
  const rules = parseFirewallRules(c.payload);
  c.dest.firewall = rules;
  const dir = qubeDir(c.app, c.dest);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'firewall.xml'), firewallXml(rules), { mode: 0o664 });
}

// --- tags ---

function validateTag(tag: string): void {
  if (tag === '') throw qerr('QubesInvalidTagError', 'tag cannot be empty');
  if (!/^[A-Za-z0-9_-]+$/.test(tag)) throw qerr('QubesInvalidTagError', 'disallowed characters');
}

function tagPermission(c: Call): void {
  if (c.arg.startsWith('created-by-') && c.src.klass !== 'AdminVM') {
    throw qerr('PermissionDenied', 'changing this tag is prohibited by qubes.ext.admin.AdminExtension');
  }
}

function tagSet(c: Call): void {
  validateTag(c.arg);
  tagPermission(c);
  addTag(c.app, c.dest, c.arg);
}

function tagRemove(c: Call): void {
  validateTag(c.arg);
  tagPermission(c);
  if (!c.dest.tags.delete(c.arg))
    throw qerr('QubesTagNotFoundError', `Tag not set for domain ${c.dest.name}: ${c.arg}`);
}

// --- pools and labels ---

function poolArg(c: Call) {
  const pool = c.app.pools.get(c.arg);
  if (pool === undefined) throw qerr('PermissionDenied', "Argument not in 'pools'");
  return pool;
}

function poolInfo(c: Call): string {
  const pool = poolArg(c);
  let out = poolConfig(c.app, pool)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
  const usage = reportedUsage(c, pool);
  if (usage !== undefined) out += `size=${usage.size}\nusage=${usage.usage}\n`;
  const inc = poolIncludedIn(c.app, pool);
  if (inc !== undefined) out += `included_in=${inc}\n`;
  return out;
}

/** The pool's size and usage, with the test knob `poolFree` applied. */
function reportedUsage(c: Call, pool: ReturnType<typeof poolArg>): { size: number; usage: number } | undefined {
  const usage = poolUsage(pool);
  const free = c.app.poolFree?.get(pool.name);
  return usage === undefined || free === undefined ? usage : { size: usage.usage + free, usage: usage.usage };
}

function poolUsageDetails(c: Call): string {
  const pool = poolArg(c);
  const usage = reportedUsage(c, pool);
  if (usage === undefined) return '';
  return `data_size=${usage.size}\ndata_usage=${usage.usage}\n`;
}

function poolVolumeList(c: Call): string {
  const pool = poolArg(c);
  if (pool.driver === 'linux-kernel') return '';
  const out: string[] = [];
  for (const q of c.app.qubes.values())
    for (const v of q.volumes.values()) if (v.pool === pool.name) out.push(`${v.vid}\n`);
  return out.join('');
}

function poolSetRevisions(c: Call): void {
  const pool = poolArg(c);
  const n = validateNumber(c.payload, 'revisions to keep', true);
  if (n < -1) throw protocolError("Value can't be lower than -1");
  if (pool.driver === 'linux-kernel') {
    if (n !== 0) throw qerr('QubesValueError', 'LinuxKernel supports only revisions_to_keep=0');
    return;
  }
  pool.config.set('revisions_to_keep', String(n));
}

function poolSetEphemeral(c: Call): void {
  const pool = poolArg(c);
  const v = boolPayload(c);
  pool.config.set('ephemeral_volatile', v ? 'True' : 'False');
}

function validateLabelName(text: string, creation: boolean): void {
  if (text === '') throw qerr('QubesInvalidLabelError', 'Label name must be set');
  if (creation && isDigits(text)) throw qerr('QubesInvalidLabelError', 'Label must not be a digit');
  if (!/^[A-Za-z0-9._-]+$/.test(text)) {
    throw qerr(
      'QubesInvalidLabelError',
      'Label must be in safe set: abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.',
    );
  }
}

function labelOf(c: Call) {
  validateLabelName(c.arg, false);
  const name = labelByText(c.app, c.arg, false);
  return c.app.labels.find((l) => l.name === name) as AppState['labels'][number];
}

function labelCreate(c: Call): void {
  validateLabelName(c.arg, true);
  const value = isAsciiBytes(c.payload) ? c.payload.toString('latin1').trim() : undefined;
  if (value === undefined) throw qerr('QubesInvalidLabelValueError', 'Label value must be encoded in ASCII');
  if (value.length !== 8) throw qerr('QubesInvalidLabelValueError', 'Label value must have length of 8');
  if (!/^0x[0-9a-f]{6}$/.test(value))
    throw qerr('QubesInvalidLabelValueError', 'Label value must be in format 0xRRGGBB');
  if (c.app.labels.some((l) => l.name === c.arg || String(l.index) === c.arg)) {
    throw qerr('QubesLabelInUseError', `Label is still in use: ${pyRepr(c.arg)}`);
  }
  const index = Math.max(8, ...c.app.labels.map((l) => l.index)) + 1;
  c.app.labels.push({ index, name: c.arg, color: value });
}

function labelRemove(c: Call): void {
  const label = labelOf(c);
  if (label.index <= 8) throw protocolError('Can only remove custom labels');
  for (const q of c.app.qubes.values()) {
    if (q.props.get('label') === label.name)
      throw qerr('QubesLabelInUseError', `Label is still in use: ${pyRepr(label.name)}`);
  }
  c.app.labels = c.app.labels.filter((l) => l !== label);
}

// --- power ---

function vmShutdown(c: Call): void {
  const args = c.arg === '' ? [] : c.arg.split('+');
  if (!args.every((a) => a === 'force' || a === 'wait')) throw protocolError('Argument must match: force, wait');
  shutdownQube(c.app, c.dest, args.includes('force'));
}

function currentState(c: Call): string {
  const q = c.dest;
  if (q.klass === 'AdminVM') {
    const kib = c.app.host.dom0MaxmemMiB * 1024;
    return `mem=${kib} mem_static_max=${kib} cputime=0 power_state=Running`;
  }
  // what the lab's hypervisor reports: memory (MiB) as mem, maxmem in KiB as the static maximum
  const running = isRunning(q);
  const num = (v: ReturnType<typeof vmProp>): number => (typeof v === 'string' ? Number(v) : 0);
  const mem = running ? num(vmProp(c.app, q, 'memory')) : 0;
  // 4.2 (as recorded): the static maximum is the memory
  const max = running ? (c.app.api === '4.2' ? mem : num(vmProp(c.app, q, 'maxmem')) * 1024) : 0;
  return `mem=${mem} mem_static_max=${max} cputime=0 power_state=${q.power}`;
}

// --- features ---

function featureOrFail(c: Call, value: string | undefined): string {
  if (value === undefined)
    throw qerr('QubesFeatureNotFoundError', `Feature not set for domain ${c.dest.name}: ${c.arg}`);
  return value;
}

function withAdmin(c: Call, value: string | undefined): string | undefined {
  if (value !== undefined) return value;
  const d0 = c.app.qubes.get('dom0');
  if (d0 === undefined || d0 === c.dest) return undefined;
  return d0.features.get(c.arg);
}

const PROHIBITED_FEATURES = [
  'deferred-netvm-original',
  'preload-dispvm',
  'preload-dispvm-completed',
  'preload-dispvm-in-progress',
];

function featurePermission(c: Call): void {
  if (PROHIBITED_FEATURES.includes(c.arg)) {
    throw qerr('PermissionDenied', 'changing this feature is prohibited by qubes.ext.admin.AdminExtension');
  }
}

function featureSet(c: Call): void {
  if (!isAsciiBytes(c.payload)) throw protocolError('Feature value contains non-ASCII characters');
  if (!/^[a-zA-Z0-9_.-]+$/.test(c.arg)) throw protocolError('feature name contains illegal characters');
  const value = c.payload.toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(value)) throw protocolError(`${c.arg} value contains illegal characters`);
  featurePermission(c);
  setFeature(c.app, c.dest, c.arg, value);
}

function featureRemove(c: Call): void {
  featurePermission(c);
  if (!deleteFeature(c.dest, c.arg))
    throw qerr('QubesFeatureNotFoundError', `Feature not set for domain ${c.dest.name}: ${c.arg}`);
}

// --- create ---

function vmCreate(c: Call, allowPool: boolean): void {
  const klass = c.endpoint as Qube['klass'];
  const kw = new Set<string>();
  let template: Qube | undefined;
  let invalidTemplate = false;
  let invalidLabel = false;
  if (c.arg !== '') {
    if (klass !== 'AppVM' && klass !== 'DispVM') {
      const msg = `${klass} cannot be based on template`;
      throw c.app.api === '4.2' ? qerr('QubesValueError', msg) : protocolError(msg);
    }
    const t = c.app.qubes.get(c.arg);
    if (t !== undefined) {
      template = t;
      kw.add('template');
    } else invalidTemplate = true;
  }
  if (!isAsciiBytes(c.payload)) throw protocolError('Parameters contains non-ASCII characters');
  let name: string | undefined;
  let label: string | undefined;
  let pool: string | undefined;
  const pools = new Map<string, string>();
  let poolError: QubesdError | undefined;
  for (const param of c.payload.toString('latin1').split(' ')) {
    const eq = param.indexOf('=');
    if (eq < 0) throw drop('ValueError: not enough values to unpack (expected 2, got 1)');
    const key = param.slice(0, eq);
    const value = param.slice(eq + 1);
    if (kw.has(key)) throw protocolError('Options must be unique');
    if (key === 'name') {
      validateName(value);
      name = value;
      kw.add('name');
    } else if (key === 'label') {
      // 4.2: enforce(not isdigit()) — a ProtocolError
      if (c.app.api === '4.2' && isDigits(value)) throw protocolError('label index');
      validateLabelName(value, true);
      const found =
        c.app.labels.find((l) => l.name === value) ??
        (isDigits(value) ? c.app.labels.find((l) => String(l.index) === value) : undefined);
      if (found !== undefined) {
        label = found.name;
        kw.add('label');
      } else if (c.app.api === '4.2') {
        // 4.2: refused as it is read, naming the label
        throw qerr('QubesLabelNotFoundError', `Label does not exist: ${value}`);
      } else invalidLabel = true;
    } else if (key === 'pool' && allowPool) {
      if (pool !== undefined) throw protocolError("Option 'pool' must be unique");
      if (c.app.pools.has(value)) pool = value;
      else poolError = qerr('QubesException', `Unknown storage pool ${value}`);
    } else if (key.startsWith('pool:') && allowPool) {
      const vol = key.slice(5);
      const allowed = ['root', 'private', 'volatile', 'kernel'];
      if (!allowed.includes(vol)) throw protocolError(`Volume must be one of: ${allowed.join(', ')}`);
      if (pools.has(vol)) throw protocolError(`Option 'pool:${vol}' must be unique`);
      if (c.app.pools.has(value)) pools.set(vol, value);
      else poolError = qerr('QubesException', `Unknown storage pool ${value}`);
    } else {
      if (!allowPool && (key === 'pool' || key.startsWith('pool:'))) {
        throw protocolError("Pool option specified but 'allow_pool' is False");
      }
      throw protocolError('Options does not match: name, label, pool, pool:');
    }
  }
  if (name === undefined) throw protocolError('Creation requested without key: name');
  if (label === undefined) throw protocolError('Creation requested without key: label');
  if (pool !== undefined && pools.size > 0)
    throw protocolError("Conflicting options specified: 'pool=', 'pool:volume='");
  if (c.app.qubes.has(name)) {
    if (c.app.api === '4.2') throw qerr('QubesValueError', `VM ${name} already exists`);
    throw qerr('QubesVMAlreadyExistsError', `Qube already exists: ${name}`);
  }
  if (invalidTemplate) throw qerr('QubesVMNotFoundError', `No such domain: ${pyRepr(c.arg)}`);
  // the label name came from the payload: qubesd does not repeat it
  if (invalidLabel) throw qerr('QubesLabelNotFoundError', 'Label does not exist: untrusted label');
  if (poolError !== undefined) throw poolError;
  createQube(c.app, {
    klass,
    name,
    label,
    ...(template !== undefined ? { template } : {}),
    choice: pool !== undefined ? { pool } : pools.size > 0 ? { pools } : {},
    source: c.src.name,
  });
}

// --- devices (4.3+) ---

function deviceArgFilter<T extends { backend: string; port: string }>(c: Call, list: T[]): T[] {
  if (c.arg === '') return list;
  const plus = c.arg.indexOf('+');
  if (plus < 0) throw drop('ValueError: not enough values to unpack');
  const backend = c.arg.slice(0, plus);
  const port = c.arg.slice(plus + 1);
  const out = list.filter((a) => a.backend === backend && a.port === port);
  if (out.length > 1) throw qerr('DeviceNotFound', '');
  return out;
}

function deviceAvailable(c: Call): string {
  // dom0's PCI devices come from libvirt's node devices: none without a hypervisor
  if (c.app.offline && c.dest.klass === 'AdminVM' && c.endpoint === 'pci')
    throw qerr('QubesException', 'VMM operations disabled in offline mode');
  let devs = c.dest.klass === 'RemoteVM' ? [] : exposedBy(c.app, c.dest, c.endpoint);
  if (c.arg !== '') {
    devs = devs.filter((d) => d.port === c.arg);
    if (devs.length > 1) throw qerr('DeviceNotFound', '');
  }
  return deviceLines(devs.map((d) => [`${d.port}:${d.deviceId}`, serializeExposed(d)]));
}

function assignedOf(q: Qube, devclass: string): Assignment[] {
  let list = q.assigned.get(devclass);
  if (list === undefined) {
    list = [];
    q.assigned.set(devclass, list);
  }
  return list;
}

function deviceAssigned(c: Call): string {
  const list = c.dest.klass === 'RemoteVM' ? [] : assignedOf(c.dest, c.endpoint);
  const sel = deviceArgFilter(c, list);
  return deviceLines(sel.map((a) => [deviceKey(a), serializeAssignment(a)]));
}

/** what is attached to a running qube now: its required assignments (present) and live attachments */
function attachedNow(c: Call, q: Qube, devclass: string): Array<{ a: Assignment; deviceId: string }> {
  if (!isRunning(q) || q.klass === 'AdminVM') return [];
  const out: Array<{ a: Assignment; deviceId: string }> = [];
  for (const a of assignedOf(q, devclass)) {
    if (a.mode !== 'required' && a.mode !== 'auto-attach') continue;
    const dev = findExposed(c.app, devclass, a.backend, a.port);
    if (dev === undefined || (a.deviceId !== '*' && a.deviceId !== dev.deviceId)) continue;
    out.push({ a, deviceId: dev.deviceId });
  }
  for (const a of q.attached.get(devclass) ?? []) out.push({ a, deviceId: a.deviceId });
  return out;
}

function deviceAttached(c: Call): string {
  const now = attachedNow(c, c.dest, c.endpoint);
  const sel = deviceArgFilter(
    c,
    now.map((x) => ({ ...x, backend: x.a.backend, port: x.a.port })),
  );
  return deviceLines(sel.map(({ a, deviceId }) => [deviceKey({ ...a, deviceId }), serializeAssignment(a, deviceId)]));
}

function expectedDevice(c: Call): VirtualDevice {
  return deviceFromArg(c.app, c.endpoint, c.arg);
}

function deviceAssign(c: Call): void {
  const dev = expectedDevice(c);
  const a = deserializeAssignment(c.app, c.payload, dev);
  if (c.dest.klass === 'RemoteVM') throw qerr('QubesException', "This qube doesn't support devices");
  const list = assignedOf(c.dest, c.endpoint);
  if (list.some((x) => sameDevice(x, a))) {
    throw qerr(
      'DeviceAlreadyAssigned',
      pyRepr(`${c.endpoint} device ${deviceStr(a)} already assigned to ${c.dest.name}`),
    );
  }
  if (a.mode === 'manual') throw drop('ValueError: Only auto-attachable devices can be assigned.');
  list.push(a);
}

function deviceUnassign(c: Call): void {
  const dev = expectedDevice(c);
  const list = assignedOf(c.dest, c.endpoint);
  const i = list.findIndex((x) => sameDevice(x, dev));
  if (i < 0)
    throw qerr('DeviceNotAssigned', pyRepr(`${c.endpoint} device ${deviceStr(dev)} not assigned to ${c.dest.name}`));
  list.splice(i, 1);
}

function deviceSetAssignment(c: Call): void {
  const modes: Record<string, AssignmentMode> = {
    required: 'required',
    'ask-to-attach': 'ask-to-attach',
    'auto-attach': 'auto-attach',
  };
  const mode = modes[c.payload.toString('latin1')];
  if (mode === undefined || !isAsciiBytes(c.payload))
    throw qerr('QubesUnrecognizedDeviceAssignmentMode', 'Invalid assignment mode');
  const dev = expectedDevice(c);
  const list = assignedOf(c.dest, c.endpoint);
  const a = list.find((x) => sameDevice(x, dev));
  if (a === undefined) throw qerr('QubesValueError', `Device ${deviceStr(dev)} not assigned to ${c.dest.name}`);
  a.mode = mode;
}

function deviceAttach(c: Call): void {
  const dev = expectedDevice(c);
  const a = deserializeAssignment(c.app, c.payload, dev);
  if (c.dest.klass === 'RemoteVM') throw qerr('QubesException', "This qube doesn't support devices");
  if (isHalted(c.dest))
    throw qerr('QubesVMNotRunningError', 'VM not running, cannot attach device, do you mean `assign`?');
  const exposed = a.backend === '*' || a.port === '*' ? undefined : findExposed(c.app, c.endpoint, a.backend, a.port);
  if (exposed === undefined || (a.deviceId !== '*' && a.deviceId !== exposed.deviceId)) {
    throw protocolError(`Cannot attach ambiguous ${c.endpoint} device.`);
  }
  const now = attachedNow(c, c.dest, c.endpoint);
  if (now.some((x) => x.a.backend === a.backend && x.a.port === a.port)) {
    throw qerr(
      'DeviceAlreadyAttached',
      pyRepr(
        `device ${a.backend}:${a.port}:${exposed.deviceId} of class ${c.endpoint} already attached to ${c.dest.name}`,
      ),
    );
  }
  if (c.endpoint === 'pci') {
    if (c.dest.klass === 'AdminVM') throw qerr('QubesException', "Can't attach PCI device to dom0");
    if (vmProp(c.app, c.dest, 'virt_mode') === 'pvh')
      throw qerr('QubesException', "Can't attach PCI device to VM in pvh mode");
  }
  const list = c.dest.attached.get(c.endpoint) ?? [];
  list.push({ ...a, deviceId: exposed.deviceId, mode: 'manual', frontend: c.dest.name });
  c.dest.attached.set(c.endpoint, list);
}

function deviceDetach(c: Call): void {
  const dev = expectedDevice(c);
  const now = attachedNow(c, c.dest, c.endpoint);
  const hit = now.find((x) => x.a.port === dev.port && x.a.backend === dev.backend);
  if (hit === undefined)
    throw qerr('DeviceNotAssigned', pyRepr(`${c.endpoint} device ${dev.port} not attached to ${c.dest.name}`));
  if (hit.a.mode === 'required' && !isHalted(c.dest)) {
    throw qerr(
      'QubesVMNotHaltedError',
      'Can not detach a required device from a non halted qube. You need to unassign device first.',
    );
  }
  const live = c.dest.attached.get(c.endpoint) ?? [];
  const i = live.indexOf(hit.a);
  if (i >= 0) live.splice(i, 1);
}

function deniedList(c: Call): string {
  const v = vmProp(c.app, c.dest, 'devices_denied');
  const text = typeof v === 'string' ? v : '';
  const chunks: string[] = [];
  for (let i = 0; i + 7 <= text.length; i += 7) chunks.push(text.slice(i, i + 7));
  return chunks.join('\n');
}

// --- devices (4.2) ---

function deviceList42(c: Call): string {
  const persistent = assignedOf(c.dest, c.endpoint);
  const live = isRunning(c.dest) ? (c.dest.attached.get(c.endpoint) ?? []) : [];
  const rows: Array<{ a: Assignment; persistent: boolean }> = [
    ...persistent.map((a) => ({ a, persistent: true })),
    ...live
      .filter((l) => !persistent.some((p) => p.backend === l.backend && p.port === l.port))
      .map((a) => ({ a, persistent: false })),
  ];
  const sel = deviceArgFilter(
    c,
    rows.map((r) => ({ ...r, backend: r.a.backend, port: r.a.port })),
  );
  return deviceLines(sel.map((r) => [`${r.a.backend}+${r.a.port}`, serialize42(r.a, r.persistent)]));
}

function deviceArg42(c: Call): { backend: string; port: string } {
  const plus = c.arg.indexOf('+');
  if (plus < 0) throw drop('ValueError: not enough values to unpack');
  const backend = c.arg.slice(0, plus);
  if (!c.app.qubes.has(backend)) throw drop(`KeyError: ${pyRepr(backend)}`);
  return { backend, port: c.arg.slice(plus + 1) };
}

function deviceAttach42(c: Call): void {
  const { persistent, options } = parseAttach42(c.payload);
  const { backend, port } = deviceArg42(c);
  if (!persistent && isHalted(c.dest)) {
    throw qerr('QubesVMNotRunningError', 'VM not running, can only attach device with persistent flag');
  }
  const persistentList = assignedOf(c.dest, c.endpoint);
  const live = c.dest.attached.get(c.endpoint) ?? [];
  if ([...persistentList, ...live].some((a) => a.backend === backend && a.port === port)) {
    throw qerr(
      'DeviceAlreadyAttached',
      pyRepr(`device ${backend}:${port} of class ${c.endpoint} already attached to ${c.dest.name}`),
    );
  }
  if (c.endpoint === 'pci') {
    if (findExposed(c.app, 'pci', backend, port) === undefined)
      throw qerr('QubesException', `Invalid PCI device: ${port}`);
    if (c.dest.klass === 'AdminVM') throw qerr('QubesException', "Can't attach PCI device to dom0");
    if (vmProp(c.app, c.dest, 'virt_mode') === 'pvh')
      throw qerr('QubesException', "Can't attach PCI device to VM in pvh mode");
  }
  const exposed = findExposed(c.app, c.endpoint, backend, port);
  // 4.2's block extension reads the absent device's mode when read-only is not given:
  // AttributeError on UnknownDevice, the connection is dropped (recorded)
  if (c.endpoint === 'block' && exposed === undefined && !options.some(([k]) => k === 'read-only'))
    throw drop("AttributeError: 'UnknownDevice' object has no attribute 'mode'");
  const a: Assignment = {
    devclass: c.endpoint,
    backend,
    port,
    deviceId: exposed?.deviceId ?? '*',
    mode: persistent ? 'required' : 'manual',
    frontend: c.dest.name,
    options,
  };
  if (persistent) persistentList.push(a);
  else {
    live.push(a);
    c.dest.attached.set(c.endpoint, live);
  }
}

function deviceDetach42(c: Call): void {
  const { backend, port } = deviceArg42(c);
  const persistentList = assignedOf(c.dest, c.endpoint);
  const live = c.dest.attached.get(c.endpoint) ?? [];
  const pi = persistentList.findIndex((a) => a.backend === backend && a.port === port);
  if (pi >= 0 && !isHalted(c.dest)) {
    throw qerr('QubesVMNotHaltedError', 'Can not remove a persistent attachment from a non halted vm');
  }
  const li = live.findIndex((a) => a.backend === backend && a.port === port);
  if (pi < 0 && li < 0) {
    throw qerr('DeviceNotAttached', pyRepr(`device ${port} of class ${c.endpoint} not attached to ${c.dest.name}`));
  }
  if (pi >= 0) persistentList.splice(pi, 1);
  if (li >= 0) live.splice(li, 1);
}

function deviceSetPersistent42(c: Call): void {
  const text = c.payload.toString('latin1');
  if (text !== 'True' && text !== 'False') throw protocolError('');
  const { backend, port } = deviceArg42(c);
  if (isHalted(c.dest)) throw qerr('QubesVMNotStartedError', 'VM must be running to modify device persistence flag');
  const persistentList = assignedOf(c.dest, c.endpoint);
  const live = c.dest.attached.get(c.endpoint) ?? [];
  const pi = persistentList.findIndex((a) => a.backend === backend && a.port === port);
  const li = live.findIndex((a) => a.backend === backend && a.port === port);
  if (pi < 0 && li < 0) throw protocolError('');
  if (text === 'True' && pi < 0) {
    const [a] = live.splice(li, 1) as [Assignment];
    persistentList.push({ ...a, mode: 'required' });
  } else if (text === 'False' && pi >= 0) {
    const [a] = persistentList.splice(pi, 1) as [Assignment];
    live.push({ ...a, mode: 'manual' });
    c.dest.attached.set(c.endpoint, live);
  }
}
