// Property values as qubesd computes them: explicit values, inherited defaults (template, global
// properties), and the stateless properties derived from other state (ip, icon, dns, xid, …).
// Which properties a class has, their API type and access come from the shared property table
// (src/core/qubes/properties.ts); the rules of each default are implemented here, after
// qubes-core-admin 4.4.0 (design.md "Admin API contract" and the GetAll transcripts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  globalProperties,
  globalPropertyInfo,
  propertiesOf,
  propertyInfo,
  type PropertySpec,
  type QubesVersion,
} from '../../../src/core/qubes/properties.ts';
import type { AppState, Qube } from './model.ts';
import { parseIPv6, pyStrip } from './py.ts';

/** A property read that raises AttributeError in qubesd (no value, no default). */
export const NOVAL: unique symbol = Symbol('AttributeError');
/** str(value) of a property; null = None. */
export type PyVal = string | null | typeof NOVAL;

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const DNS_SERVERS = '10.139.1.1 10.139.1.2';
const DEFAULT_MAC = '00:16:3e:5e:6c:00';
const IPV6_PREFIX = 'fd09:24ef:4179:0000';
export const QUBES_BASE_DIR = '/var/lib/qubes';

export function qubesVersion(app: AppState): QubesVersion {
  return app.api === '4.2' ? '4.2' : '4.4';
}

// the shared table's lookups filter and sort on each call: memoised per class and version
const specCache = new Map<string, { list: PropertySpec[]; byName: Map<string, PropertySpec> }>();

function specsFor(klass: string, version: QubesVersion): { list: PropertySpec[]; byName: Map<string, PropertySpec> } {
  const key = `${klass}|${version}`;
  let entry = specCache.get(key);
  if (entry === undefined) {
    const list = klass === '@global' ? globalProperties(version) : propertiesOf(klass as Qube['klass'], version);
    const byName = new Map<string, PropertySpec>();
    for (const spec of list) {
      const found =
        klass === '@global'
          ? globalPropertyInfo(spec.name, version)
          : propertyInfo(spec.name, klass as Qube['klass'], version);
      if (found !== undefined) byName.set(spec.name, found);
    }
    entry = { list, byName };
    specCache.set(key, entry);
  }
  return entry;
}

export function vmSpec(app: AppState, q: Qube, name: string): PropertySpec | undefined {
  return specsFor(q.klass, qubesVersion(app)).byName.get(name);
}

export function vmSpecs(app: AppState, q: Qube): PropertySpec[] {
  return specsFor(q.klass, qubesVersion(app)).list;
}

export function globalSpec(app: AppState, name: string): PropertySpec | undefined {
  return specsFor('@global', qubesVersion(app)).byName.get(name);
}

export function globalSpecs(app: AppState): PropertySpec[] {
  return specsFor('@global', qubesVersion(app)).list;
}

// ---------------------------------------------------------------------------------------------
// helpers over the state

export function qubeNamed(app: AppState, name: string | null | undefined): Qube | undefined {
  if (name === null || name === undefined || name === '') return undefined;
  return app.qubes.get(name);
}

export function dom0(app: AppState): Qube {
  return app.qubes.get('dom0') as Qube;
}

export function isHalted(q: Qube): boolean {
  if (q.klass === 'AdminVM') return false;
  return q.power === 'Halted';
}

/** qubesd's is_running(): true for running, paused, suspended, transient, halting. */
export function isRunning(q: Qube): boolean {
  if (q.klass === 'AdminVM') return true;
  return q.power !== 'Halted' && q.power !== 'NA' && q.power !== 'Crashed';
}

/** AppVM and DispVM have a `template` attribute. */
export function hasTemplateAttr(q: Qube): boolean {
  return q.klass === 'AppVM' || q.klass === 'DispVM';
}

export function templateOf(app: AppState, q: Qube): Qube | undefined {
  if (!hasTemplateAttr(q)) return undefined;
  return qubeNamed(app, q.props.get('template'));
}

export function hasPciAssigned(q: Qube): boolean {
  return (q.assigned.get('pci') ?? []).length > 0;
}

/** Python truthiness of a feature value (a str: non-empty is true). */
function truthy(v: string | undefined | null): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** features.check_with_template(name, None): own value, else the template chain's. */
export function featureWithTemplate(app: AppState, q: Qube, feature: string): string | undefined {
  let cur: Qube | undefined = q;
  const seen = new Set<string>();
  while (cur !== undefined && !seen.has(cur.name)) {
    seen.add(cur.name);
    const v = cur.features.get(feature);
    if (v !== undefined) return v;
    cur = templateOf(app, cur);
  }
  return undefined;
}

/** features.check_with_netvm(name, None) */
export function featureWithNetvm(app: AppState, q: Qube, feature: string): string | undefined {
  let cur: Qube | undefined = q;
  const seen = new Set<string>();
  while (cur !== undefined && !seen.has(cur.name)) {
    seen.add(cur.name);
    const v = cur.features.get(feature);
    if (v !== undefined) return v;
    const nv: PyVal = cur.klass === 'AdminVM' ? null : vmProp(app, cur, 'netvm');
    cur = typeof nv === 'string' ? qubeNamed(app, nv) : undefined;
  }
  return undefined;
}

/** The qube a vm-typed property points at (undefined for None / AttributeError). */
export function refOf(app: AppState, q: Qube, name: string): Qube | undefined {
  const v = vmProp(app, q, name);
  return typeof v === 'string' ? qubeNamed(app, v) : undefined;
}

export function netvmOf(app: AppState, q: Qube): Qube | undefined {
  if (q.klass === 'AdminVM' || q.klass === 'RemoteVM') return undefined;
  return refOf(app, q, 'netvm');
}

/** qubes with this one as their (effective) netvm, in qubesd's order (by qid) */
export function connectedVms(app: AppState, netvm: Qube): Qube[] {
  return byQid(app).filter(
    (vm) => vm !== netvm && vm.klass !== 'AdminVM' && vm.klass !== 'RemoteVM' && netvmOf(app, vm) === netvm,
  );
}

/** app.domains.get_vms_connected_to(netvm): everything downstream, transitively */
export function vmsConnectedTo(app: AppState, netvm: Qube): Set<Qube> {
  const out = new Set<Qube>();
  const todo = [netvm];
  while (todo.length > 0) {
    const cur = todo.pop() as Qube;
    for (const vm of connectedVms(app, cur)) {
      if (out.has(vm)) continue;
      out.add(vm);
      todo.push(vm);
    }
  }
  return out;
}

/** iteration order of app.domains (sorted by qid) */
export function byQid(app: AppState): Qube[] {
  return [...app.qubes.values()].sort((a, b) => a.qid - b.qid);
}

function providesNetwork(app: AppState, q: Qube): boolean {
  return q.klass !== 'AdminVM' && q.klass !== 'RemoteVM' && vmProp(app, q, 'provides_network') === 'True';
}

function isNetworked(app: AppState, q: Qube): boolean {
  return providesNetwork(app, q) || netvmOf(app, q) !== undefined;
}

function vmidToIpv4(prefix: string, vmid: number): string {
  if (vmid < 255) return `${prefix}.${(vmid >> 8) & 0xff}.${vmid & 0xff}`;
  const v = vmid - 1;
  return `${prefix}.${Math.floor(v / 254)}.${(v % 254) + 1}`;
}

function ipForVm(q: Qube): string {
  if (q.klass === 'DispVM') return vmidToIpv4('10.138', Number(q.props.get('dispid') ?? '0'));
  return vmidToIpv4('10.137', q.qid);
}

function ip6ForVm(q: Qube): string {
  const id = q.klass === 'DispVM' ? Number(q.props.get('dispid') ?? '0') : q.qid;
  const tag = q.klass === 'DispVM' ? 'a8a' : 'a89';
  return parseIPv6(`${IPV6_PREFIX}::${tag}:${id.toString(16)}`) as string;
}

/** the directory of a kernel version (system path mapped below the fake's root) */
export function kernelDir(app: AppState, kernel: string): string {
  const kpool = [...app.pools.values()].find((p) => p.driver === 'linux-kernel');
  return join(kpool !== undefined ? kpool.realDir : join(app.root, QUBES_BASE_DIR, 'vm-kernels'), kernel);
}

// ---------------------------------------------------------------------------------------------
// per-qube properties

/** property_is_default(): no explicit value */
export function vmPropIsDefault(q: Qube, name: string): boolean {
  if (q.klass !== 'AdminVM' && (name === 'name' || name === 'qid' || name === 'uuid')) return false;
  return !q.props.has(name);
}

/** getattr(vm, name): the explicit value, else the default. */
export function vmProp(app: AppState, q: Qube, name: string): PyVal {
  if (q.klass !== 'AdminVM') {
    if (name === 'name') return q.name;
    if (name === 'qid') return String(q.qid);
    if (name === 'uuid') return q.uuid;
  }
  const explicit = q.props.get(name);
  if (explicit !== undefined) {
    const spec = vmSpec(app, q, name);
    return spec?.type === 'vm' && explicit === '' ? null : explicit;
  }
  return vmPropDefault(app, q, name);
}

function fromTemplate(app: AppState, q: Qube, prop: string, dflt: () => PyVal): PyVal {
  const t = templateOf(app, q);
  if (t !== undefined && vmSpec(app, t, prop) !== undefined) {
    const v = vmProp(app, t, prop);
    if (v !== NOVAL) return v;
  }
  return dflt();
}

function globalOrNone(app: AppState, name: string): PyVal {
  return globalProp(app, name);
}

/** property.get_default(): what the property is when not set (NOVAL: no default). */
export function vmPropDefault(app: AppState, q: Qube, name: string): PyVal {
  if (q.klass === 'AdminVM') return adminDefault(app, q, name);
  switch (name) {
    case 'name':
    case 'qid':
    case 'uuid':
    case 'label':
    case 'template':
    case 'dispid':
      return NOVAL;
    case 'klass':
      return q.klass;
    case 'icon':
      return icon(app, q);
    case 'autostart':
    case 'debug':
    case 'installed_by_rpm':
    case 'provides_network':
    case 'template_for_dispvms':
    case 'auto_cleanup':
    case 'is_preload':
      return 'False';
    case 'include_in_backups':
      if (q.klass === 'DispVM') return vmProp(app, q, 'auto_cleanup') === 'True' ? 'False' : 'True';
      if (q.klass === 'RemoteVM') return 'False';
      return 'True';
    case 'backup_timestamp':
    case 'stubdom_mem':
      return null;
    case 'default_user':
      return fromTemplate(app, q, 'default_user', () => 'user');
    case 'devices_denied':
      return '';
    case 'kernel':
      return fromTemplate(app, q, 'kernel', () => globalProp(app, 'default_kernel'));
    case 'keyboard_layout': {
      const guivm = refOf(app, q, 'guivm');
      if (guivm === undefined) return 'us++';
      const v = vmProp(app, guivm, 'keyboard_layout');
      return v === NOVAL || v === null ? 'us++' : v;
    }
    case 'mac':
      return DEFAULT_MAC;
    case 'maxmem':
      // qubesd 4.3+ enables memory balancing only under Xen; the lab (and this fake) is not Xen
      return app.api === '4.2' ? defaultMaxmem42(app, q) : '0';
    case 'memory':
      return fromTemplate(app, q, 'memory', () => '400');
    case 'vcpus':
      return fromTemplate(app, q, 'vcpus', () => '2');
    case 'qrexec_timeout':
      return fromTemplate(app, q, 'qrexec_timeout', () => globalProp(app, 'default_qrexec_timeout'));
    case 'shutdown_timeout':
      return fromTemplate(app, q, 'shutdown_timeout', () => globalProp(app, 'default_shutdown_timeout'));
    case 'updateable':
      return hasTemplateAttr(q) ? 'False' : 'True';
    case 'virt_mode': {
      if (hasPciAssigned(q)) return 'hvm';
      const t = templateOf(app, q);
      if (t !== undefined) return vmProp(app, t, 'virt_mode');
      return 'pvh';
    }
    case 'kernelopts':
      return defaultKernelopts(app, q);
    case 'bootmode':
      return defaultBootmode(app, q);
    case 'appvm_default_bootmode':
      return q.features.get('boot-mode.appvm-default') ?? 'default';
    case 'audiovm':
      return globalOrNone(app, 'default_audiovm');
    case 'guivm':
      return globalOrNone(app, 'default_guivm');
    case 'default_dispvm':
      if (q.klass === 'DispVM') return q.props.get('template') ?? NOVAL;
      return globalOrNone(app, 'default_dispvm');
    case 'management_dispvm':
      return fromTemplate(app, q, 'management_dispvm', () => globalOrNone(app, 'management_dispvm'));
    case 'netvm':
      if (q.klass === 'TemplateVM') return null;
      return globalOrNone(app, 'default_netvm');
    case 'relayvm':
      return null;
    case 'transport_rpc':
    case 'remote_name':
      return NOVAL;
    // --- stateless (computed) ---
    case 'xid':
      return isRunning(q) ? String(q.xid) : '-1';
    case 'stubdom_xid':
      // 4.2 reads xenstore for every running qube (the lab has none: AttributeError)
      if (app.api === '4.2') return isRunning(q) ? NOVAL : '-1';
      if (vmProp(app, q, 'virt_mode') !== 'hvm') return '-1';
      if (!isRunning(q)) return '-1';
      return NOVAL; // qubesd reads xenstore here; without Xen that is an AttributeError
    case 'stubdom_uuid': {
      const sx = vmProp(app, q, 'stubdom_xid');
      if (sx === NOVAL) return NOVAL;
      return sx === '-1' ? '' : NOVAL;
    }
    case 'start_time':
      return isRunning(q) ? NOVAL : null;
    case 'ip':
      return isNetworked(app, q) ? ipForVm(q) : null;
    case 'ip6':
      if (!isNetworked(app, q)) return null;
      if (!truthy(featureWithNetvm(app, q, 'ipv6'))) return null;
      return ip6ForVm(q);
    case 'visible_ip': {
      const fake = featureWithTemplate(app, q, 'net.fake-ip');
      return truthy(fake) ? (fake as string) : vmProp(app, q, 'ip');
    }
    case 'visible_ip6':
      return vmProp(app, q, 'ip6');
    case 'visible_gateway': {
      const fake = featureWithTemplate(app, q, 'net.fake-gateway');
      if (truthy(fake)) return fake as string;
      const netvm = netvmOf(app, q);
      return netvm !== undefined ? vmProp(app, netvm, 'gateway') : null;
    }
    case 'visible_gateway6': {
      if (!truthy(featureWithNetvm(app, q, 'ipv6'))) return null;
      const netvm = netvmOf(app, q);
      return netvm !== undefined ? vmProp(app, netvm, 'gateway6') : null;
    }
    case 'visible_netmask': {
      const fake = featureWithTemplate(app, q, 'net.fake-netmask');
      if (truthy(fake)) return fake as string;
      const netvm = netvmOf(app, q);
      if (netvm === undefined) return null;
      return isNetworked(app, netvm) ? '255.255.255.255' : null;
    }
    case 'gateway':
      return providesNetwork(app, q) ? vmProp(app, q, 'visible_ip') : null;
    case 'gateway6':
      if (!truthy(featureWithNetvm(app, q, 'ipv6'))) return null;
      return providesNetwork(app, q) ? vmProp(app, q, 'visible_ip6') : null;
    case 'dns':
      return netvmOf(app, q) !== undefined || providesNetwork(app, q) ? DNS_SERVERS : null;
    default:
      return NOVAL;
  }
}

function adminDefault(app: AppState, q: Qube, name: string): PyVal {
  switch (name) {
    case 'name':
      return 'dom0';
    case 'qid':
      return '0';
    case 'uuid':
      return ZERO_UUID;
    case 'klass':
      return 'AdminVM';
    case 'icon':
      return 'adminvm-black';
    case 'include_in_backups':
    case 'updateable':
      return 'True';
    case 'devices_denied':
      return '';
    case 'keyboard_layout':
      return 'us++';
    case 'maxmem':
      return String(app.host.dom0MaxmemMiB);
    case 'default_dispvm':
      return globalProp(app, 'default_dispvm');
    default:
      void q;
      return NOVAL;
  }
}

function icon(app: AppState, q: Qube): PyVal {
  const label = q.props.get('label');
  if (label === undefined) return NOVAL;
  if (q.klass === 'AppVM' && vmProp(app, q, 'template_for_dispvms') === 'True') return `templatevm-${label}`;
  if (q.klass === 'TemplateVM') return `templatevm-${label}`;
  if (truthy(q.features.get('servicevm'))) return `servicevm-${label}`;
  if (q.klass === 'DispVM') return `dispvm-${label}`;
  if (q.klass === 'StandaloneVM') return `standalonevm-${label}`;
  if (q.klass === 'RemoteVM') return `remotevm-${label}`;
  return `appvm-${label}`;
}

function defaultKernelopts(app: AppState, q: Qube): PyVal {
  const kernel = vmProp(app, q, 'kernel');
  if (kernel === NOVAL) return NOVAL;
  if (kernel === null || kernel === '') return '';
  const dir = kernelDir(app, kernel);
  if (hasPciAssigned(q)) {
    const file = join(dir, 'default-kernelopts-pci.txt');
    return existsSync(file) ? readTrimmed(file) : '';
  }
  const t = templateOf(app, q);
  if (t !== undefined) {
    const v = vmProp(app, t, 'kernelopts');
    if (v !== NOVAL) return v;
  }
  const file = join(dir, 'default-kernelopts-nopci.txt');
  return existsSync(file) ? readTrimmed(file) : 'swiotlb=2048';
}

function readTrimmed(file: string): string {
  return pyStrip(readFileSync(file, 'ascii'));
}

function defaultBootmode(app: AppState, q: Qube): PyVal {
  const active = q.features.get('boot-mode.active');
  if (active !== undefined) {
    if (active === 'default') return 'default';
    if (featureWithTemplate(app, q, `boot-mode.kernelopts.${active}`) !== undefined) return active;
  }
  let subject: Qube | undefined = q;
  const seen = new Set<string>();
  while (subject !== undefined && hasTemplateAttr(subject) && !seen.has(subject.name)) {
    seen.add(subject.name);
    const t = templateOf(app, subject);
    if (t === undefined) break;
    if (t.klass === 'TemplateVM') {
      const bv = vmProp(app, t, 'appvm_default_bootmode');
      if (bv === 'default') return 'default';
      if (typeof bv === 'string' && featureWithTemplate(app, subject, `boot-mode.kernelopts.${bv}`) !== undefined)
        return bv;
    }
    subject = t;
  }
  return 'default';
}

// ---------------------------------------------------------------------------------------------
// global properties

export function globalPropIsDefault(app: AppState, name: string): boolean {
  return !app.globals.has(name);
}

export function globalProp(app: AppState, name: string): PyVal {
  const explicit = app.globals.get(name);
  if (explicit !== undefined) {
    const spec = globalSpec(app, name);
    return spec?.type === 'vm' && explicit === '' ? null : explicit;
  }
  return globalPropDefault(app, name);
}

export function globalPropDefault(app: AppState, name: string): PyVal {
  switch (name) {
    case 'default_guivm':
    case 'default_audiovm':
      return 'dom0';
    case 'default_netvm':
    case 'updatevm':
    case 'clockvm':
    case 'default_dispvm':
    case 'management_dispvm':
      return null;
    case 'default_template':
    case 'default_kernel':
      return NOVAL;
    case 'default_pool':
      return defaultPool(app);
    case 'default_pool_private':
    case 'default_pool_root':
    case 'default_pool_volatile':
    case 'default_pool_kernel':
      return globalProp(app, 'default_pool');
    case 'default_qrexec_timeout':
    case 'default_shutdown_timeout':
      return '60';
    case 'stats_interval':
      return '3';
    case 'check_updates_vm':
      return 'True';
    case 'maxmem':
      return String(app.host.memoryMiB);
    case 'no_cpus':
      return String(app.host.cpus);
    default:
      return NOVAL;
  }
}

/**
 * qubesd 4.2's _default_maxmem: 0 when memory balancing is impossible (a persistent PCI device;
 * an HVM qube without qrexec, or announcing services but not meminfo-writer), else the
 * template's maxmem, else min(memory × 10 for os=Linux / 4000, half the host's memory).
 */
function defaultMaxmem42(app: AppState, q: Qube): PyVal {
  if (hasPciAssigned(q)) return '0';
  if (vmProp(app, q, 'virt_mode') === 'hvm') {
    const features = new Set<string>(q.features.keys());
    for (let t = templateOf(app, q); t !== undefined; t = templateOf(app, t))
      for (const f of t.features.keys()) features.add(f);
    const services = [...features].some((f) => f.startsWith('supported-service.'));
    if (
      !truthy(featureWithTemplate(app, q, 'qrexec')) ||
      (services && !truthy(featureWithTemplate(app, q, 'supported-service.meminfo-writer')))
    )
      return '0';
  }
  const memory = Number(vmProp(app, q, 'memory'));
  const own = Math.min(
    q.features.get('os') === 'Linux' ? memory * 10 : 4000,
    Math.floor(Number(app.host.memoryMiB) / 2),
  );
  return fromTemplate(app, q, 'maxmem', () => String(own));
}

/** The type qubesd names for a property: 4.2 declares the stateless xid/stubdom_xid without one (str). */
export function wireType(app: AppState, spec: { name: string; type: string }): string {
  return app.api === '4.2' && (spec.name === 'xid' || spec.name === 'stubdom_xid') ? 'str' : spec.type;
}

/** qubesd's _default_pool: a pool named "default", else a file pool at /var/lib/qubes. */
function defaultPool(app: AppState): PyVal {
  if (app.pools.has('default')) return 'default';
  for (const pool of app.pools.values()) {
    if (pool.driver !== 'file' && pool.driver !== 'file-reflink') continue;
    if (pool.config.get('dir_path') === QUBES_BASE_DIR) return pool.name;
  }
  return NOVAL;
}

// ---------------------------------------------------------------------------------------------
// serialisation (admin.vm.property.Get / GetAll / GetDefault)

export function serialize(type: string, value: PyVal, isDefault: boolean): string {
  if (value === NOVAL) return `default=True type=${type} `;
  return `default=${isDefault ? 'True' : 'False'} type=${type} ${value ?? ''}`;
}

export function serializeDefault(type: string, value: PyVal): string | null {
  if (value === NOVAL) return null;
  return `type=${type} ${value ?? ''}`;
}

/** The text of repr(vm) as qubesd puts it into some messages: `<AppVM at 0x… name='x' qid=5 k=v …>`. */
export function vmRepr(app: AppState, q: Qube): string {
  const parts: string[] = [];
  for (const spec of vmSpecs(app, q)) {
    if (spec.name === 'name' || spec.name === 'qid') continue;
    const v = vmProp(app, q, spec.name);
    if (v === NOVAL) continue;
    parts.push(`${spec.name}=${v === null ? 'None' : v}`);
  }
  return `<${q.klass} at ${q.pyId} name='${q.name}' qid=${q.qid} ${parts.join(' ')}>`;
}
