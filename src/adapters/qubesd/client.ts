// Typed Admin API operations over one QubesdTransport, with a per-run read cache and a call log.
//
// Every operation validates what goes into the request before anything is sent (validate.ts),
// parses the answer with the zod-checked parsers of core/qubesapi, and documents the qubesd
// behaviour it relies on. The facts come from the recorded daemon (qubes-core-admin 4.4.0):
// docs/design.md "Admin API contract" (§n cites the recorded protocol notes) and test/data/qubesd/.
import { WqError } from '../../core/errors.ts';
import type { CallRef } from '../../core/qubesapi/errors.ts';
import {
  ReplyFormatError,
  parseCurrentState,
  parseFirewall,
  parseLabelColor,
  parseLabelIndex,
  parseNameList,
  parsePoolInfo,
  parsePoolUsage,
  parsePropertyDefault,
  parsePropertyGet,
  parsePropertyGetAll,
  parseTagGet,
  parseVmList,
  parseVolumeInfo,
  type CurrentState,
  type PoolInfo,
  type PoolUsage,
  type PropertyDefault,
  type PropertyValue,
  type VmListEntry,
  type VolumeInfo,
} from '../../core/qubesapi/parse.ts';
import {
  assignmentArg,
  assignmentPayload,
  checkAssignment,
  legacyAttachPayload,
  parseAssigned,
  parseLegacyList,
} from '../../core/qubesapi/devices.ts';
import {
  checkDeviceClass,
  checkFeatureName,
  checkFeatureValue,
  checkFirewallRule,
  checkLabelName,
  checkPoolName,
  checkPropertyName,
  checkPropertyValue,
  checkQubeName,
  checkTagName,
  checkVolumeName,
} from '../../core/qubesapi/validate.ts';
import { bodyText, malformedBody } from '../../core/qubesapi/wire.ts';
import type { DeviceAssignment, Label, QubeClass, QubeSettings } from '../../core/qubes/model.ts';
import { CallLog, type CallKind } from './call-log.ts';
import type { QubesdTransport } from './transport.ts';
import { readGlobalSettings, readQubeSettings, type ReadSettingsOptions } from './settings.ts';

/** Which device API this qubesd speaks (§7): 4.3+ Assigned/Assign/Unassign, or 4.2 List/Attach/Detach. */
export type DeviceApi = '4.3' | '4.2';

export interface AdminClientOptions {
  /** Per-run read cache (default on): the same read is never sent twice until a write. */
  cache?: boolean;
  /** Force a device API instead of probing. */
  deviceApi?: DeviceApi | 'auto';
  log?: CallLog;
  /** Most calls in flight at once (each is one connection to qubesd); default 16. */
  maxInFlight?: number;
}

/** A value as the caller has it; encoded as qubesd expects (§4). */
export type PropertyInput = string | number | boolean | null;

export const VOLUME_NAMES = ['root', 'private', 'volatile', 'kernel'] as const;
export type VolumeName = (typeof VOLUME_NAMES)[number];

export interface CreateQubeSpec {
  klass: Exclude<QubeClass, 'AdminVM'>;
  name: string;
  /** label NAME (required by qubesd) */
  label: string;
  /** AppVM/DispVM only; AppVM without it → the global default_template */
  template?: string | undefined;
  /** all volumes in this pool (CreateInPool) */
  pool?: string | undefined;
  /** per-volume pools (CreateInPool); exclusive with `pool` */
  volumePools?: Partial<Record<VolumeName, string>> | undefined;
}

/** Methods whose answers cannot change through anything this client does. */
const STATIC_READS = new Set([
  'admin.deviceclass.List',
  'admin.vmclass.List',
  'admin.label.List',
  'admin.label.Get',
  'admin.label.Index',
]);

/** Writes after which the qube list (admin.vm.List) must be read again. */
const LIFECYCLE_WRITE =
  /^admin\.vm\.(Create|CreateInPool)\.|^admin\.vm\.(Remove|Start|Shutdown|Kill|Pause|Unpause|Suspend|Resume)$/;
const VM_LIST_KEY = 'dom0\0admin.vm.List\0';

/** Write-once properties: qubesd answers Set/Reset with an EMPTY response (an internal AttributeError, §5, §6). */
const WRITE_ONCE = new Set(['qid', 'uuid', 'name']);

function encodeValue(value: PropertyInput): string {
  if (value === null) return ''; // vm: None
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new WqError('input', `Property value ${value} is not an integer.`);
    return String(value);
  }
  return value;
}

export class AdminClient {
  readonly log: CallLog;
  private readonly transport: QubesdTransport;
  private readonly cacheOn: boolean;
  private readonly cache = new Map<string, Promise<string>>();
  private readonly staticCache = new Map<string, Promise<string>>();
  private deviceApiKnown: DeviceApi | undefined;
  private deviceApiProbe: Promise<DeviceApi> | undefined;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(transport: QubesdTransport, opts: AdminClientOptions = {}) {
    this.transport = transport;
    this.cacheOn = opts.cache ?? true;
    this.log = opts.log ?? new CallLog();
    this.deviceApiKnown = opts.deviceApi === undefined || opts.deviceApi === 'auto' ? undefined : opts.deviceApi;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 16);
  }

  // ---- plumbing ------------------------------------------------------------------------------

  private async invoke(kind: CallKind, dest: string, method: string, arg: string, payload?: string): Promise<string> {
    const call: CallRef = { method, dest, arg };
    // a slot per connection; a finished call hands its slot straight to the next waiter
    if (this.inFlight < this.maxInFlight) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      const body = await this.log.record({ ...call, kind }, () => this.transport.call(dest, method, arg, payload));
      return bodyText(call, body);
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.inFlight--;
    }
  }

  /** A read, answered from the cache when the same read was made since the last write. */
  private read(dest: string, method: string, arg = ''): Promise<string> {
    if (!this.cacheOn) return this.invoke('read', dest, method, arg);
    const cache = STATIC_READS.has(method) ? this.staticCache : this.cache;
    const key = `${dest}\0${method}\0${arg}`;
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const p = this.invoke('read', dest, method, arg);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    return p;
  }

  /**
   * A write. Any write empties the read cache: qubesd computes defaults across qubes (a global
   * `default_netvm` changes every qube's `netvm default=True …`) and has side effects
   * (`service.meminfo-writer` rewrites `maxmem`, §8), so no cached read is safe after it.
   * Only the qube list (names, classes, power states) survives writes that cannot change it:
   * it is dropped by create, remove, start, shutdown and kill.
   */
  private async write(dest: string, method: string, arg = '', payload?: string): Promise<void> {
    const lifecycle = LIFECYCLE_WRITE.test(method);
    const drop = (): void => {
      for (const key of this.cache.keys()) if (lifecycle || !key.startsWith(VM_LIST_KEY)) this.cache.delete(key);
    };
    drop();
    try {
      await this.invoke('write', dest, method, arg, payload);
    } finally {
      drop();
    }
  }

  private parse<T>(call: CallRef, text: string, fn: (t: string) => T): T {
    try {
      return fn(text);
    } catch (err) {
      if (err instanceof ReplyFormatError) throw malformedBody(call, err.message);
      throw err;
    }
  }

  private async readParsed<T>(dest: string, method: string, arg: string, fn: (t: string) => T): Promise<T> {
    return this.parse({ method, dest, arg }, await this.read(dest, method, arg), fn);
  }

  /** Forget every cached read (e.g. after changes made by someone else). */
  clearCache(): void {
    this.cache.clear();
    this.staticCache.clear();
  }

  // ---- qubes ---------------------------------------------------------------------------------

  /**
   * admin.vm.List to dom0: every qube, `<name> class=<C> state=<S> uuid=<u>` per line, dom0
   * first (§3). A qube caller sees only what its qrexec policy allows.
   */
  async listQubes(): Promise<VmListEntry[]> {
    return this.readParsed('dom0', 'admin.vm.List', '', parseVmList);
  }

  /** admin.vm.CurrentState: `mem= mem_static_max= cputime= power_state=` (§3). */
  async currentState(qube: string): Promise<CurrentState> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.CurrentState', '', parseCurrentState);
  }

  // ---- properties (per qube: admin.vm.property.*, global: admin.property.* to dom0) -----------

  /** admin.vm.property.List: names, not sorted. */
  async listProperties(qube: string): Promise<string[]> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.property.List', '', (t) => parseNameList(t, 'property list'));
  }

  /**
   * admin.vm.property.GetAll: every property in one call, `<name> default=<X> type=<T> <value>`
   * per line with `\` → `\\` and newline → `\n` escaped (unescaped here). Order is not
   * alphabetical and not relied on (§3).
   */
  async getAllProperties(qube: string): Promise<Map<string, PropertyValue>> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.property.GetAll', '', parsePropertyGetAll);
  }

  /** admin.vm.property.Get+<p>: `default=X type=T value` (value unescaped; may span lines). */
  async getProperty(qube: string, name: string): Promise<PropertyValue> {
    checkQubeName(qube);
    checkPropertyName(name);
    return this.readParsed(qube, 'admin.vm.property.Get', name, (t) => parsePropertyGet(t, `property ${name}`));
  }

  /** admin.vm.property.GetDefault+<p>: undefined when the property has no default (label, template, qid). */
  async getPropertyDefault(qube: string, name: string): Promise<PropertyDefault | undefined> {
    checkQubeName(qube);
    checkPropertyName(name);
    return this.readParsed(qube, 'admin.vm.property.GetDefault', name, (t) =>
      parsePropertyDefault(t, `default of ${name}`),
    );
  }

  /**
   * admin.vm.property.Set+<p>, payload = value text (§4). Relies on: bool as `True`/`False`,
   * int as digits, vm = qube name or empty for None, label = label NAME; the payload must be
   * ASCII. Setting the current value makes it explicit (`default=False`). qubesd refuses:
   * `template` while the qube runs (QubesVMNotHaltedError) or naming a non-TemplateVM,
   * `netvm` naming a qube without `provides_network=True` (QubesValueError) or making a loop,
   * `default_dispvm` naming a qube without `template_for_dispvms=True`, computed properties
   * (`xid`, `klass`, … QubesPropertyValueError). `qid`/`uuid`/`name` are refused here: qubesd
   * would answer with an empty response.
   */
  async setProperty(qube: string, name: string, value: PropertyInput): Promise<void> {
    checkQubeName(qube);
    this.checkWritable(name, 'set');
    const text = checkPropertyValue(name, encodeValue(value));
    await this.write(qube, 'admin.vm.property.Set', name, text);
  }

  /**
   * admin.vm.property.Reset+<p> (§5): back to the default, `0\0` also when already default.
   * Never for `label` — qubesd answers OK and leaves the qube with NO label — so it is refused
   * here; set a label instead. `template` → QubesValueError (cannot unset). Write-once
   * `qid`/`uuid`/`name` → refused here (qubesd: empty response).
   */
  async resetProperty(qube: string, name: string): Promise<void> {
    checkQubeName(qube);
    this.checkWritable(name, 'reset');
    if (name === 'label') {
      throw new WqError(
        'input',
        `Refusing to reset 'label' of ${qube}: qubesd would leave the qube without any label; set a label instead.`,
        { qube },
      );
    }
    await this.write(qube, 'admin.vm.property.Reset', name);
  }

  private checkWritable(name: string, verb: string): void {
    checkPropertyName(name);
    if (WRITE_ONCE.has(name)) {
      throw new WqError(
        'input',
        `Property '${name}' is write-once and cannot be ${verb === 'set' ? 'set' : 'reset'} through the Admin API.`,
      );
    }
  }

  /** admin.property.GetAll to dom0: the global properties (same format as the per-qube call). */
  async getAllGlobals(): Promise<Map<string, PropertyValue>> {
    return this.readParsed('dom0', 'admin.property.GetAll', '', parsePropertyGetAll);
  }

  async getGlobal(name: string): Promise<PropertyValue> {
    checkPropertyName(name);
    return this.readParsed('dom0', 'admin.property.Get', name, (t) => parsePropertyGet(t, `global property ${name}`));
  }

  async getGlobalDefault(name: string): Promise<PropertyDefault | undefined> {
    checkPropertyName(name);
    return this.readParsed('dom0', 'admin.property.GetDefault', name, (t) =>
      parsePropertyDefault(t, `default of ${name}`),
    );
  }

  /**
   * admin.property.Set+<p> (§4). qubesd checks `default_netvm` only for loops (it accepts a
   * qube that does not provide network); pointing it at sys-firewall needs sys-net's own netvm
   * set explicitly first (`Network loop on 'sys-net'`). `default_dispvm` needs
   * `template_for_dispvms=True`; computed globals (`no_cpus`) are refused.
   */
  async setGlobal(name: string, value: PropertyInput): Promise<void> {
    checkPropertyName(name);
    const text = checkPropertyValue(name, encodeValue(value));
    await this.write('dom0', 'admin.property.Set', name, text);
  }

  /** admin.property.Reset+<p>: back to the default (`clockvm` → none). */
  async resetGlobal(name: string): Promise<void> {
    checkPropertyName(name);
    await this.write('dom0', 'admin.property.Reset', name);
  }

  // ---- features (§8) ---------------------------------------------------------------------------

  /** admin.vm.feature.List: names in insertion order; there is no batch read of values. */
  async listFeatures(qube: string): Promise<string[]> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.feature.List', '', (t) => parseNameList(t, 'feature list'));
  }

  /** admin.vm.feature.Get+<f>: the raw value, may be empty. Missing → QubesFeatureNotFoundError. */
  async getFeature(qube: string, name: string): Promise<string> {
    checkQubeName(qube);
    checkFeatureName(name);
    return this.read(qube, 'admin.vm.feature.Get', name);
  }

  /** All features with values: one List plus one Get per feature (qubesd has no batch read). */
  async getFeatures(qube: string): Promise<Record<string, string>> {
    const names = await this.listFeatures(qube);
    const values = await Promise.all(names.map((n) => this.getFeature(qube, n)));
    const out: Record<string, string> = {};
    names.forEach((n, i) => (out[n] = values[i]!));
    return out;
  }

  /** admin.vm.feature.CheckWithTemplate+<f>: the value, falling back to the template's. */
  async checkFeatureWithTemplate(qube: string, name: string): Promise<string> {
    checkQubeName(qube);
    checkFeatureName(name);
    return this.read(qube, 'admin.vm.feature.CheckWithTemplate', name);
  }

  /**
   * admin.vm.feature.Set+<f>, payload = value. qubesd: name `[A-Za-z0-9_.-]+`, value printable
   * ASCII only (checked here first); true is sent as `1`, false as empty (qubesadmin's
   * encoding). Reserved features (`preload-dispvm*`, `deferred-netvm-original`) →
   * PermissionDenied. Side effect: `service.meminfo-writer` rewrites `maxmem` and deletes itself.
   */
  async setFeature(qube: string, name: string, value: string | boolean): Promise<void> {
    checkQubeName(qube);
    checkFeatureName(name);
    const text = typeof value === 'boolean' ? (value ? '1' : '') : value;
    checkFeatureValue(name, text);
    await this.write(qube, 'admin.vm.feature.Set', name, text);
  }

  /** admin.vm.feature.Remove+<f>; missing → QubesFeatureNotFoundError. */
  async removeFeature(qube: string, name: string): Promise<void> {
    checkQubeName(qube);
    checkFeatureName(name);
    await this.write(qube, 'admin.vm.feature.Remove', name);
  }

  // ---- tags (§8) -------------------------------------------------------------------------------

  /**
   * admin.vm.tag.List: sorted. Includes tags qubesd adds itself: `created-by-<source>` on
   * create, `guivm-<q>` / `audiovm-<q>` from extensions.
   */
  async listTags(qube: string): Promise<string[]> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.tag.List', '', (t) => parseNameList(t, 'tag list'));
  }

  /** admin.vm.tag.Get+<t> → `1`/`0`. */
  async hasTag(qube: string, tag: string): Promise<boolean> {
    checkQubeName(qube);
    checkTagName(tag);
    return this.readParsed(qube, 'admin.vm.tag.Get', tag, parseTagGet);
  }

  /**
   * admin.vm.tag.Set+<t>: name `[A-Za-z0-9_-]+` (QubesInvalidTagError otherwise); setting a
   * present tag is OK. `created-by-*` may only be changed by dom0 (we call as dom0).
   */
  async setTag(qube: string, tag: string): Promise<void> {
    checkQubeName(qube);
    checkTagName(tag);
    await this.write(qube, 'admin.vm.tag.Set', tag);
  }

  /** admin.vm.tag.Remove+<t>: an absent tag → QubesTagNotFoundError. */
  async removeTag(qube: string, tag: string): Promise<void> {
    checkQubeName(qube);
    checkTagName(tag);
    await this.write(qube, 'admin.vm.tag.Remove', tag);
  }

  // ---- devices (§7) ----------------------------------------------------------------------------

  /** admin.deviceclass.List: `pci`, `block` here; a real dom0 also has `usb`, `mic`. */
  async deviceClasses(): Promise<string[]> {
    return this.readParsed('dom0', 'admin.deviceclass.List', '', (t) => parseNameList(t, 'device class list'));
  }

  /** The device API found by probing (undefined until a device call was made). */
  get deviceApi(): DeviceApi | undefined {
    return this.deviceApiKnown;
  }

  /**
   * Which device API this qubesd speaks (docs/design.md "Device API on 4.2 and 4.3+"), found by
   * a read that both releases answer and that tells them apart: `admin.vm.property.List` of dom0
   * lists `devices_denied` on 4.3+ (the device deny list came with the Assign/Assigned API) and
   * not on 4.2. Never from a closed connection: qubesd 4.2 closes it without a byte both for a
   * method it does not have and for a call that policy denies, so silence proves nothing; a
   * probe that gets no answer fails the run. One call per client, cached like every read.
   */
  detectDeviceApi(): Promise<DeviceApi> {
    if (this.deviceApiKnown !== undefined) return Promise.resolve(this.deviceApiKnown);
    this.deviceApiProbe ??= this.readParsed('dom0', 'admin.vm.property.List', '', (t) =>
      parseNameList(t, 'property list'),
    ).then(
      (names) => {
        const api: DeviceApi = names.includes('devices_denied') ? '4.3' : '4.2';
        this.deviceApiKnown ??= api;
        return this.deviceApiKnown;
      },
      (err: unknown) => {
        this.deviceApiProbe = undefined;
        throw err;
      },
    );
    return this.deviceApiProbe;
  }

  /**
   * Refuses an unknown class before calling: qubesd 4.3+ answers `ProtocolError: no such method`
   * for an unknown class, qubesd 4.2 closes the connection.
   */
  private async requireDeviceClass(devclass: string): Promise<void> {
    checkDeviceClass(devclass);
    const classes = await this.deviceClasses();
    if (!classes.includes(devclass)) {
      throw new WqError(
        'input',
        `Unknown device class '${devclass}' (this system has: ${classes.join(', ') || 'none'}).`,
      );
    }
  }

  /**
   * Persistent assignments of one class. 4.3+: `admin.vm.device.<c>.Assigned`. 4.2:
   * `admin.vm.device.<c>.List`, keeping the `persistent=yes` entries (the others are live
   * attachments that end with the qube). The API is detected first (detectDeviceApi).
   */
  async assignedDevices(qube: string, devclass: string): Promise<DeviceAssignment[]> {
    checkQubeName(qube);
    checkDeviceClass(devclass); // before anything is sent
    const [api] = await Promise.all([this.detectDeviceApi(), this.requireDeviceClass(devclass)]);
    if (api === '4.2') {
      return this.readParsed(qube, `admin.vm.device.${devclass}.List`, '', (t) => parseLegacyList(t, devclass));
    }
    return this.readParsed(qube, `admin.vm.device.${devclass}.Assigned`, '', (t) => parseAssigned(t, devclass));
  }

  /** Backend qubes must exist: qubesd answers Assign naming a missing backend with NOTHING (§1). */
  private async requireBackend(backend: string): Promise<void> {
    const qubes = await this.listQubes();
    if (!qubes.some((q) => q.name === backend)) {
      throw new WqError('input', `Device backend qube '${backend}' does not exist.`);
    }
  }

  /**
   * Persistent assignment. 4.3+: `admin.vm.device.<c>.Assign+<backend>+<port>[+<id>]` with the
   * `key='value'` payload (mode `required`/`auto-attach`/`ask-to-attach`; `manual` is not
   * assignable — qubesd answers with nothing). The device need not be present. qubesd accepts
   * `auto-attach` for PCI (qvm-device refuses it; we pass it through). A present assignment →
   * DeviceAlreadyAssigned. 4.2: `Attach` with `persistent=True` (mode and identity are lost).
   */
  async assignDevice(qube: string, assignment: DeviceAssignment): Promise<void> {
    checkQubeName(qube);
    checkAssignment(assignment);
    await this.requireDeviceClass(assignment.devclass);
    await this.requireBackend(assignment.backend);
    const api = await this.detectDeviceApi();
    if (api === '4.3') {
      await this.write(
        qube,
        `admin.vm.device.${assignment.devclass}.Assign`,
        assignmentArg(assignment),
        assignmentPayload(assignment, qube),
      );
    } else {
      await this.write(
        qube,
        `admin.vm.device.${assignment.devclass}.Attach`,
        `${assignment.backend}+${assignment.port}`,
        legacyAttachPayload(assignment),
      );
    }
  }

  /** 4.3+: `Unassign` (absent → DeviceNotAssigned). 4.2: `Detach` (the qube must be halted). */
  async unassignDevice(
    qube: string,
    assignment: Pick<DeviceAssignment, 'devclass' | 'backend' | 'port' | 'deviceId'>,
  ): Promise<void> {
    checkQubeName(qube);
    checkAssignment({ ...assignment, mode: 'required', options: {} });
    await this.requireDeviceClass(assignment.devclass);
    const api = await this.detectDeviceApi();
    if (api === '4.3') {
      await this.write(qube, `admin.vm.device.${assignment.devclass}.Unassign`, assignmentArg(assignment));
    } else {
      await this.write(
        qube,
        `admin.vm.device.${assignment.devclass}.Detach`,
        `${assignment.backend}+${assignment.port}`,
      );
    }
  }

  // ---- firewall --------------------------------------------------------------------------------

  /**
   * admin.vm.firewall.Get: one rule per line, in order, `comment=` last. A qube without its own
   * rules answers `action=accept`. qubesd writes rules in ITS canonical form, not as they were
   * sent: `dsthost=10.0.0.0/8` comes back as `dst4=10.0.0.0/8`, options in qubesd's order
   * (measured on the lab qubesd) — compare rules after a round trip, not with the text sent.
   * Not for dom0 (ProtocolError: expected destination to not be AdminVM).
   */
  async getFirewall(qube: string): Promise<string[]> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.firewall.Get', '', parseFirewall);
  }

  /**
   * admin.vm.firewall.Set: the whole rule list as `<rule>\n` lines (ASCII, else ProtocolError);
   * it replaces every rule. qubesd validates each rule (option names and values).
   */
  async setFirewall(qube: string, rules: readonly string[]): Promise<void> {
    checkQubeName(qube);
    rules.forEach(checkFirewallRule);
    await this.write(qube, 'admin.vm.firewall.Set', '', rules.map((r) => `${r}\n`).join(''));
  }

  // ---- volumes, pools, labels ------------------------------------------------------------------

  /** admin.vm.volume.List: `root private volatile kernel` (dom0: none). */
  async listVolumes(qube: string): Promise<string[]> {
    checkQubeName(qube);
    return this.readParsed(qube, 'admin.vm.volume.List', '', (t) => parseNameList(t, 'volume list'));
  }

  /** admin.vm.volume.Info+<v>; an unknown volume → PermissionDenied `Argument not in '<q> volumes'`. */
  async volumeInfo(qube: string, volume: string): Promise<VolumeInfo> {
    checkQubeName(qube);
    checkVolumeName(volume);
    return this.readParsed(qube, 'admin.vm.volume.Info', volume, parseVolumeInfo);
  }

  async listPools(): Promise<string[]> {
    return this.readParsed('dom0', 'admin.pool.List', '', (t) => parseNameList(t, 'pool list'));
  }

  /**
   * admin.pool.Info+<p>: config keys (`dir_path`, `driver`, `name`, `revisions_to_keep`, and for
   * lvm_thin `volume_group`, `thin_pool`), then `size=`/`usage=` when the driver knows them and
   * `included_in=`. An unknown pool → PermissionDenied `Argument not in 'pools'`.
   */
  async poolInfo(pool: string): Promise<PoolInfo> {
    checkPoolName(pool);
    return this.readParsed('dom0', 'admin.pool.Info', pool, parsePoolInfo);
  }

  /** admin.pool.UsageDetails+<p>: data size and usage in bytes (both absent when the driver does not know). */
  async poolUsage(pool: string): Promise<PoolUsage> {
    checkPoolName(pool);
    return this.readParsed('dom0', 'admin.pool.UsageDetails', pool, parsePoolUsage);
  }

  /** Every pool with its info (1 + one call per pool). */
  async pools(): Promise<PoolInfo[]> {
    const names = await this.listPools();
    return Promise.all(names.map((n) => this.poolInfo(n)));
  }

  async listLabels(): Promise<string[]> {
    return this.readParsed('dom0', 'admin.label.List', '', (t) => parseNameList(t, 'label list'));
  }

  /** admin.label.Get+<l> → `0xRRGGBB`; unknown → QubesLabelNotFoundError. */
  async labelColor(label: string): Promise<string> {
    checkLabelName(label);
    return this.readParsed('dom0', 'admin.label.Get', label, parseLabelColor);
  }

  async labelIndex(label: string): Promise<number> {
    checkLabelName(label);
    return this.readParsed('dom0', 'admin.label.Index', label, parseLabelIndex);
  }

  /** Every label with index and color (1 + 2 calls per label; cached for the run). */
  async labels(): Promise<Label[]> {
    const names = await this.listLabels();
    return Promise.all(
      names.map(async (name) => ({ name, index: await this.labelIndex(name), color: await this.labelColor(name) })),
    );
  }

  // ---- lifecycle (§9, §10) ---------------------------------------------------------------------

  /**
   * admin.vm.Create.<Class> / admin.vm.CreateInPool.<Class> to dom0, argument = template,
   * payload `name=<n> label=<l>` plus `pool=<p>` or `pool:<volume>=<p>` (CreateInPool only).
   * qubesd: TemplateVM/StandaloneVM take no template (ProtocolError, refused here), AppVM
   * without one uses `default_template`; an unknown label is reported as `Creation requested
   * without key: label`; the new qube gets `created-by-dom0`, a qid, a uuid and its volumes.
   */
  async createQube(spec: CreateQubeSpec): Promise<void> {
    const { klass, name, label, template, pool, volumePools } = spec;
    if (!['AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM', 'RemoteVM'].includes(klass)) {
      throw new WqError('input', `Cannot create a qube of class '${String(klass)}'.`);
    }
    checkQubeName(name);
    checkLabelName(label);
    if (template !== undefined) {
      checkQubeName(template, 'template name');
      if (klass === 'TemplateVM' || klass === 'StandaloneVM') {
        throw new WqError('input', `A ${klass} cannot be based on a template (create it empty, then clone volumes).`);
      }
    }
    const perVolume = Object.entries(volumePools ?? {}).filter(([, p]) => p !== undefined) as Array<[string, string]>;
    if (pool !== undefined && perVolume.length > 0) {
      throw new WqError('input', 'Give either one pool for all volumes or pools per volume, not both.');
    }
    let payload = `name=${name} label=${label}`;
    if (pool !== undefined) payload += ` pool=${checkPoolName(pool)}`;
    for (const [vol, p] of perVolume) {
      if (!(VOLUME_NAMES as readonly string[]).includes(vol))
        throw new WqError('input', `Unknown volume '${vol}' (root, private, volatile, kernel).`);
      payload += ` pool:${vol}=${checkPoolName(p)}`;
    }
    const method =
      pool !== undefined || perVolume.length > 0 ? `admin.vm.CreateInPool.${klass}` : `admin.vm.Create.${klass}`;
    await this.write('dom0', method, template ?? '', payload);
  }

  /**
   * admin.vm.Remove (dest = the qube): QubesVMNotHaltedError when running, QubesVMInUseError
   * when another qube or a global property refers to it, `'dom0' cannot be removed`.
   */
  async removeQube(qube: string): Promise<void> {
    checkQubeName(qube);
    await this.write(qube, 'admin.vm.Remove');
  }

  /** admin.vm.Start: OK also when already running; dom0 → QubesVMNotHaltedError. */
  async startQube(qube: string): Promise<void> {
    checkQubeName(qube);
    await this.write(qube, 'admin.vm.Start');
  }

  /**
   * admin.vm.Shutdown[+force|+wait|+force+wait]: a halted qube → QubesVMNotStartedError; a net
   * qube serving running qubes → QubesVMInUseError unless `force`. Without `wait` it returns
   * when shutdown is requested (the qube may show `Halting` for a while).
   */
  async shutdownQube(qube: string, opts: { force?: boolean; wait?: boolean } = {}): Promise<void> {
    checkQubeName(qube);
    const arg = [opts.force ? 'force' : '', opts.wait ? 'wait' : ''].filter((s) => s !== '').join('+');
    await this.write(qube, 'admin.vm.Shutdown', arg);
  }

  /** admin.vm.Kill: halted → QubesVMNotStartedError; dom0 → QubesVMError. */
  async killQube(qube: string): Promise<void> {
    checkQubeName(qube);
    await this.write(qube, 'admin.vm.Kill');
  }

  // ---- batched settings ------------------------------------------------------------------------

  /** Every setting of the named live qubes (see settings.ts for the call budget). */
  async readQubeSettings(names: readonly string[], opts?: ReadSettingsOptions): Promise<Map<string, QubeSettings>> {
    return readQubeSettings(this, names, opts);
  }

  /** Explicitly set global properties (`default=False`), as the archive stores them. */
  async readGlobalSettings(): Promise<Record<string, string>> {
    return readGlobalSettings(this);
  }
}
