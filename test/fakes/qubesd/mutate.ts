// Changing state the way qubesd does, with its validation and its side effects:
// property Set/Reset (sanitize → setter → pre-set checks → store → post-set effects),
// features and tags (with the extensions' reactions).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PropertySpec } from '../../../src/core/qubes/properties.ts';
import { drop, qerr } from './errors.ts';
import type { AppState, Qube } from './model.ts';
import {
  NOVAL,
  byQid,
  connectedVms,
  globalProp,
  globalSpec,
  hasPciAssigned,
  isHalted,
  isRunning,
  kernelDir,
  netvmOf,
  qubeNamed,
  refOf,
  templateOf,
  vmProp,
  vmPropDefault,
  vmPropIsDefault,
  vmRepr,
  vmSpec,
  vmSpecs,
  vmsConnectedTo,
  type PyVal,
} from './props.ts';
import { isAsciiBytes, isPrintable, parseIPv4, parseIPv6, parseUuid, pyInt, pyRepr } from './py.ts';
import { retargetSnapshotVolumes } from './volumes.ts';

type Holder = { kind: 'vm'; q: Qube } | { kind: 'app' };

const PY_TYPE_NAMES: Record<string, string> = { uuid: 'UUID', ip: 'IPv4Address', ip6: 'IPv6Address' };

// ---------------------------------------------------------------------------------------------
// validation shared with the API layer

/** qubes.vm.validate_name(None, …, name) */
export function validateName(name: string): void {
  if (name.length > 31) throw qerr('QubesValueError', 'VM name must be shorter than 32 characters');
  if (/^[0-9_.-]/.test(name) && !name.includes('\n')) {
    throw qerr('QubesValueError', 'VM name cannot start with hyphen, underscore, dot or numbers');
  }
  if (!/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(name)) throw qerr('QubesValueError', 'VM name contains illegal characters');
  if (name === 'Domain-0') throw qerr('QubesValueError', "VM name cannot be 'Domain-0'");
  if (name === 'none' || name === 'default') throw qerr('QubesValueError', "VM name cannot be 'none' nor 'default'");
  if (name.endsWith('-dm')) throw qerr('QubesValueError', 'VM name cannot end with -dm');
}

/** qubes.property.bool */
export function pyBool(text: string): 'True' | 'False' {
  const lc = text.toLowerCase();
  if (['0', 'no', 'false', 'off'].includes(lc)) return 'False';
  if (['1', 'yes', 'true', 'on'].includes(lc)) return 'True';
  throw qerr('QubesValueError', `Invalid literal for boolean property: ${pyRepr(text)}`);
}

/** property.sanitize(untrusted_newvalue=payload) → canonical text ('' = None for vm type) */
export function sanitizeValue(spec: PropertySpec, payload: Buffer): string {
  if (!isAsciiBytes(payload)) {
    if (spec.type === 'vm') throw qerr('QubesValueError', '');
    throw qerr('QubesValueError', 'Non-ASCII bytes in property value');
  }
  const text = payload.toString('latin1');
  if (spec.type === 'vm') {
    if (text === '') return '';
    validateName(text);
    return text;
  }
  if (spec.type === 'bool') return pyBool(text);
  const pyType = PY_TYPE_NAMES[spec.name] ?? (spec.type === 'int' ? 'int' : undefined);
  if (pyType !== undefined) {
    let v: string | undefined;
    if (pyType === 'int') {
      const n = pyInt(text);
      v = n === undefined ? undefined : n.toString();
    } else if (pyType === 'UUID') v = parseUuid(text);
    else if (pyType === 'IPv4Address') v = parseIPv4(text);
    else v = parseIPv6(text);
    if (v === undefined) throw qerr('QubesValueError', `Failed to parse property value as ${pyType}`);
    return v;
  }
  if (!isPrintable(text)) throw qerr('QubesValueError', 'Invalid characters in property value');
  return text;
}

function holderName(app: AppState, h: Holder): string {
  return h.kind === 'vm' ? h.q.klass : 'Qubes';
}

function holderRepr(app: AppState, h: Holder): string {
  return h.kind === 'vm' ? vmRepr(app, h.q) : '<qubes.Qubes object>';
}

function forbidden(app: AppState, h: Holder, name: string): never {
  throw qerr('QubesPropertyValueError', `property ${pyRepr(name)} on ${holderName(app, h)} instance cannot be set`);
}

function positive(name: string, value: string, orZero = false): string {
  const n = BigInt(value);
  if (orZero ? n < 0n : n <= 0n) {
    throw qerr('QubesPropertyValueError', `${name} must be positive${orZero ? ' or zero' : ''}`);
  }
  return value;
}

/** qubes.app.validate_kernel */
export function validateKernel(app: AppState, kernel: string): void {
  if (kernel === '') return;
  const dir = kernelDir(app, kernel);
  if (!existsSync(dir)) throw qerr('QubesPropertyValueError', `Kernel ${pyRepr(kernel)} not installed`);
  if (!existsSync(join(dir, 'vmlinuz'))) {
    throw qerr('QubesPropertyValueError', `Kernel ${pyRepr(kernel)} not properly installed: missing 'vmlinuz' file`);
  }
}

function isDispvmTemplate(app: AppState, q: Qube): boolean {
  return (q.klass === 'AppVM' || q.klass === 'StandaloneVM') && vmProp(app, q, 'template_for_dispvms') === 'True';
}

function validateDisposableTemplate(app: AppState, h: Holder, prop: string, value: Qube | null): void {
  if (value === null) return;
  if (isDispvmTemplate(app, value)) return;
  const target = h.kind === 'app' ? 'system' : `qube ${pyRepr(h.q.name)}`;
  throw qerr(
    'QubesPropertyValueError',
    `Cannot set invalid property to ${target}, ${prop} ${pyRepr(value.name)} has template_for_dispvms set to False`,
  );
}

/** setter_label + app.get_label: `label-N` and plain numbers are label indexes, else names */
export function labelByText(app: AppState, text: string, setter = true): string {
  if (setter && text.startsWith('label-')) {
    const n = pyInt(text.slice(6));
    if (n === undefined) throw drop(`ValueError: invalid literal for int() with base 10: ${pyRepr(text.slice(6))}`);
    const byIndex = app.labels.find((l) => BigInt(l.index) === n);
    if (byIndex !== undefined) return byIndex.name;
    throw qerr('QubesLabelNotFoundError', `Label does not exist: ${n.toString()}`);
  }
  const byName = app.labels.find((l) => l.name === text);
  if (byName !== undefined) return byName.name;
  const n = pyInt(text);
  const byIndex = n === undefined ? undefined : app.labels.find((l) => BigInt(l.index) === n);
  if (byIndex !== undefined) return byIndex.name;
  throw qerr('QubesLabelNotFoundError', `Label does not exist: ${text}`);
}

/** _setter_netvm: the new netvm must provide network, no loops */
function checkNetvm(app: AppState, q: Qube, value: Qube | null): void {
  if (value === null) return;
  if (value.klass === 'AdminVM' || value.klass === 'RemoteVM') throw drop('AttributeError: no provides_network');
  if (vmProp(app, value, 'provides_network') !== 'True') {
    throw qerr('QubesValueError', `The ${value.name} qube does not provide network`);
  }
  if (value === q || vmsConnectedTo(app, q).has(value))
    throw qerr('QubesValueError', 'Loops in network are unsupported');
}

/** property-pre-set:netvm of a qube (also fired for qubes following default_netvm) */
function preSetNetvmCheck(app: AppState, q: Qube, value: Qube | null): void {
  if (value !== null && isRunning(q) && !isRunning(value)) {
    throw qerr('QubesVMNotStartedError', `Cannot dynamically attach to stopped qube ${value.name}`);
  }
}

/** get_qube_prop_deps: who refers to `qube` (system: any value; qubes: explicit values only) */
export function propDeps(
  app: AppState,
  qube: Qube,
  systemProps?: string[],
  qubeProps?: string[],
): { system: string[]; qubes: Array<[string, string]> } {
  const system: string[] = [];
  const qubes: Array<[string, string]> = [];
  for (const vm of byQid(app)) {
    if (vm === qube) continue;
    for (const spec of vmSpecs(app, vm)) {
      if (spec.type !== 'vm') continue;
      if (vmProp(app, vm, spec.name) !== qube.name) continue;
      if (vmPropIsDefault(vm, spec.name)) continue;
      if (qubeProps !== undefined && !qubeProps.includes(spec.name)) continue;
      qubes.push([vm.name, spec.name]);
    }
  }
  for (const spec of globalSpecsOf(app)) {
    if (spec.type !== 'vm') continue;
    if (globalProp(app, spec.name) !== qube.name) continue;
    if (systemProps !== undefined && !systemProps.includes(spec.name)) continue;
    system.push(spec.name);
  }
  return { system, qubes };
}

function globalSpecsOf(app: AppState): PropertySpec[] {
  const out: PropertySpec[] = [];
  for (const name of [
    'check_updates_vm',
    'clockvm',
    'default_audiovm',
    'default_dispvm',
    'default_guivm',
    'default_kernel',
    'default_netvm',
    'default_pool',
    'default_pool_kernel',
    'default_pool_private',
    'default_pool_root',
    'default_pool_volatile',
    'default_qrexec_timeout',
    'default_shutdown_timeout',
    'default_template',
    'management_dispvm',
    'maxmem',
    'no_cpus',
    'stats_interval',
    'updatevm',
  ]) {
    const s = globalSpec(app, name);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function checkTemplateForDispvmsOff(app: AppState, q: Qube, newValue: string | null, oldValue: PyVal): void {
  if (newValue === 'True') return;
  if (newValue !== 'True' && oldValue !== 'True') return;
  const { system, qubes } = propDeps(
    app,
    q,
    ['default_dispvm', 'management_dispvm'],
    ['default_dispvm', 'management_dispvm', 'template'],
  );
  if (system.length > 0) {
    throw qerr(
      'QubesVMInUseError',
      'Cannot change template_for_dispvms to False while it is in use by the system by any of ' +
        'these properties: default_dispvm, management_dispvm',
    );
  }
  if (qubes.length > 0) {
    throw qerr(
      'QubesVMInUseError',
      'Cannot change template_for_dispvms to False while it is the disposable template of a ' +
        'qube by any of these properties: default_dispvm, management_dispvm, template',
    );
  }
}

function dispvmsOf(app: AppState, q: Qube): Qube[] {
  return byQid(app).filter((vm) => vm.klass === 'DispVM' && vm.props.get('template') === q.name);
}

// ---------------------------------------------------------------------------------------------
// features and tags

/** features[name] = value, with the extensions' checks and reactions */
export function setFeature(app: AppState, q: Qube, name: string, value: string): void {
  if (name.startsWith('service.')) {
    const service = name.slice('service.'.length);
    if (service === '') throw qerr('QubesValueError', 'Service name cannot be empty');
    if (service.includes('/')) throw qerr('QubesValueError', 'Service name cannot contain a slash');
    if (service === '.' || service === '..') throw qerr('QubesValueError', 'Service name cannot be "." or ".."');
    if (service.length > 48 && !service.startsWith('app-dispvm.')) {
      throw qerr('QubesValueError', 'Service name must not exceed 48 bytes');
    }
  }
  // (qubesd registers its net.fake-* format checks under event names that are never fired,
  // so any printable value is accepted)
  q.features.set(name, value);
  if (name === 'service.meminfo-writer') {
    // qubes.ext.services: the legacy switch becomes maxmem, then deletes itself
    if (value !== '') resetVmPropertyInternal(app, q, 'maxmem');
    else setVmPropertyValue(app, q, 'maxmem', '0');
    q.features.delete(name);
  }
}

export function deleteFeature(q: Qube, name: string): boolean {
  return q.features.delete(name);
}

const TAG_CHARS = /^[A-Za-z0-9_-]+$/;

/** vm.tags.add(tag), with the admin extension's reaction to created-by-* */
export function addTag(app: AppState, q: Qube, tag: string): void {
  if (!TAG_CHARS.test(tag)) throw drop('ValueError: Invalid character in tag');
  if (q.tags.has(tag)) return;
  q.tags.add(tag);
  if (tag.startsWith('created-by-')) {
    const creator = app.qubes.get(tag.slice('created-by-'.length));
    if (creator === undefined) throw drop(`KeyError: ${pyRepr(tag.slice('created-by-'.length))}`);
    for (const t of (creator.features.get('tag-created-vm-with') ?? '').split(/\s+/).filter((s) => s !== ''))
      addTag(app, q, t);
    const guivm = creator.features.get('set-created-guivm');
    if (guivm !== undefined && guivm !== '') {
      if (!app.qubes.has(guivm)) throw drop(`KeyError: ${pyRepr(guivm)}`);
      setVmPropertyValue(app, q, 'guivm', guivm);
    }
  }
}

/** the gui extension: exactly one guivm-<name> tag, for the current guivm */
export function syncGuivmTag(app: AppState, q: Qube): void {
  const guivm = refOf(app, q, 'guivm');
  let found = false;
  for (const tag of [...q.tags]) {
    if (!tag.startsWith('guivm-')) continue;
    if (guivm !== undefined && tag === `guivm-${guivm.name}`) {
      found = true;
      continue;
    }
    q.tags.delete(tag);
  }
  if (!found && guivm !== undefined) q.tags.add(`guivm-${guivm.name}`);
}

/** the audio extension: the audiovm-<name> tag follows the audiovm */
export function syncAudiovmTag(app: AppState, q: Qube): void {
  for (const tag of [...q.tags]) if (tag.startsWith('audiovm-')) q.tags.delete(tag);
  const audiovm = refOf(app, q, 'audiovm');
  if (audiovm !== undefined) q.tags.add(`audiovm-${audiovm.name}`);
}

function syncServicevmFeature(app: AppState, q: Qube): void {
  if (vmProp(app, q, 'provides_network') === 'True') q.features.set('servicevm', '1');
  else q.features.delete('servicevm');
}

// ---------------------------------------------------------------------------------------------
// per-qube properties

/** Resolves a vm-typed value like VMProperty.__set__ (None / existence / class). */
function resolveVmValue(app: AppState, h: Holder, spec: PropertySpec, text: string): Qube | null {
  const allowNone = spec.name !== 'template';
  if (text === '') {
    if (!allowNone) {
      throw qerr(
        'QubesPropertyValueError',
        `Invalid value None for property ${pyRepr(spec.name)} of ${holderRepr(app, h)}`,
      );
    }
    return null;
  }
  const vm = app.qubes.get(text);
  if (vm === undefined) {
    throw qerr('QubesPropertyValueError', `Can't set ${spec.name} to non-existing qube ${text}`);
  }
  const needTemplate =
    (h.kind === 'vm' && spec.name === 'template' && h.q.klass === 'AppVM') ||
    (h.kind === 'app' && spec.name === 'default_template');
  const wanted = needTemplate ? 'TemplateVM' : 'LocalVM';
  const ok = needTemplate ? vm.klass === 'TemplateVM' : vm.klass !== 'RemoteVM';
  if (!ok) {
    throw qerr(
      'QubesPropertyValueError',
      `wrong VM class: domains[${pyRepr(text)}] is of type ${vm.klass} and not ${wanted}`,
    );
  }
  return vm;
}

/** admin.vm.property.Set: payload → sanitize → setattr */
export function setVmProperty(app: AppState, q: Qube, spec: PropertySpec, payload: Buffer): void {
  const text = sanitizeValue(spec, payload);
  setVmPropertyValue(app, q, spec.name, text, spec);
}

/** setattr(vm, name, text) where text is the sanitized API text */
export function setVmPropertyValue(app: AppState, q: Qube, name: string, text: string, specIn?: PropertySpec): void {
  const spec = specIn ?? vmSpec(app, q, name);
  if (spec === undefined) throw qerr('QubesNoSuchPropertyError', `Invalid property ${pyRepr(name)} of ${q.name}`);
  const h: Holder = { kind: 'vm', q };
  let value = text;
  let vmValue: Qube | null = null;
  if (spec.type === 'vm') {
    vmValue = resolveVmValue(app, h, spec, text);
    value = vmValue === null ? '' : vmValue.name;
  }
  if (spec.access === 'write-once' && !vmPropIsDefault(q, name))
    throw drop(`AttributeError: property ${pyRepr(name)} is write-once and already set`);
  if (spec.access === 'read-only') forbidden(app, h, name);
  const oldValue = vmProp(app, q, name);
  // --- setter ---
  switch (name) {
    case 'memory':
    case 'vcpus':
    case 'qrexec_timeout':
    case 'shutdown_timeout':
    case 'stubdom_mem':
      value = positive(name, value);
      break;
    case 'maxmem':
      value = positive(name, value, true);
      break;
    case 'kernel':
      if (value === '') break;
      if (value.includes('/')) throw qerr('QubesPropertyValueError', "Kernel name cannot contain '/'");
      break;
    case 'kernelopts':
      if (value.length > 512) throw qerr('QubesPropertyValueError', 'Kernelopts value too long (512 chars max)');
      break;
    case 'default_user': {
      const allowed = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+,.';
      if (![...value].every((c) => allowed.includes(c))) {
        throw qerr('QubesPropertyValueError', `Username can contain only those characters: ${allowed}`);
      }
      break;
    }
    case 'devices_denied':
      value = deniedList(value);
      break;
    case 'virt_mode':
      value = value.toLowerCase();
      if (!['hvm', 'pv', 'pvh'].includes(value)) {
        throw qerr('QubesPropertyValueError', 'Invalid virtualization mode, supported values: hvm, pv, pvh');
      }
      if (value === 'pvh' && hasPciAssigned(q)) {
        throw qerr('QubesPropertyValueError', "pvh mode can't be set if pci devices are assigned");
      }
      break;
    case 'keyboard_layout':
      checkKeyboardLayout(value);
      break;
    case 'mac':
      value = value.toLowerCase();
      if (!/^([0-9a-f][0-9a-f]:){5}[0-9a-f][0-9a-f]$/.test(value)) throw drop('ValueError: Invalid MAC address value');
      break;
    case 'label':
      value = labelByText(app, value);
      break;
    case 'netvm':
      checkNetvm(app, q, vmValue);
      break;
    case 'provides_network':
      if (value === 'False' && connectedVms(app, q).length > 0) {
        throw qerr('QubesValueError', "The qube is still used by other qubes, change theirs 'netvm' first");
      }
      break;
    case 'default_dispvm':
    case 'management_dispvm':
      validateDisposableTemplate(app, h, name, vmValue);
      break;
    case 'template':
      if (q.klass === 'DispVM' && (vmValue === null || !isDispvmTemplate(app, vmValue))) {
        throw qerr('QubesPropertyValueError', 'template for disposable must have template_for_dispvms=True');
      }
      break;
    default:
      break;
  }
  // --- property-pre-set handlers ---
  switch (name) {
    case 'netvm':
      preSetNetvmCheck(app, q, vmValue);
      break;
    case 'template':
      if (!isHalted(q)) throw qerr('QubesVMNotHaltedError', 'Cannot change template while qube is running');
      if (q.klass === 'AppVM' && isDispvmTemplate(app, q) && value !== oldValue) {
        if (dispvmsOf(app, q).some(isRunning)) {
          throw qerr(
            'QubesVMInUseError',
            "('Cannot change template while there are running disposables based on this disposable template',)",
          );
        }
      }
      break;
    case 'template_for_dispvms':
      checkTemplateForDispvmsOff(app, q, value, oldValue);
      break;
    case 'maxmem':
      // qubesd raises QubesVMNotHaltedError with a bad argument here: an AttributeError, no reply
      if (value !== oldValue && !isHalted(q)) throw drop("AttributeError: 'str' object has no attribute 'name'");
      break;
    case 'kernel':
      validateKernel(app, value);
      break;
    default:
      break;
  }
  q.props.set(name, value);
  // --- property-set handlers ---
  afterChange(app, q, name);
}

/** The side effects of a changed (set or reset) property. */
function afterChange(app: AppState, q: Qube, name: string): void {
  switch (name) {
    case 'provides_network':
      syncServicevmFeature(app, q);
      break;
    case 'guivm':
      syncGuivmTag(app, q);
      break;
    case 'audiovm':
      syncAudiovmTag(app, q);
      break;
    case 'template':
      retargetSnapshotVolumes(app, q);
      for (const d of dispvmsOf(app, q)) retargetSnapshotVolumes(app, d);
      break;
    default:
      break;
  }
}

function deniedList(value: string): string {
  if (value === '') return '';
  if (value.length % 7 !== 0) {
    throw qerr(
      'QubesValueError',
      `Invalid length of interfaces=${pyRepr(value)} (is ${value.length}, expected multiple of 7)`,
    );
  }
  const chunks = new Set<string>();
  for (let i = 0; i < value.length; i += 7) chunks.add(value.slice(i, i + 7));
  const out = [...chunks].sort().join('');
  if (!/^([bump*][0-9a-f*]{6})*$/.test(out)) {
    throw qerr(
      'QubesPropertyValueError',
      'Interface code list should be in the form chhhhhhchhhhhh...,where c is one of "b", "u", ' +
        '"m", "p", "*" and h is a hexdigit or "*".',
    );
  }
  return out;
}

function checkKeyboardLayout(value: string): void {
  const parts = value.split('+');
  if (parts.length !== 3) throw qerr('QubesPropertyValueError', 'invalid number of keyboard layout parameters');
  const [layout, variant, options] = parts as [string, string, string];
  if (!/^[A-Za-z]+$/.test(layout)) throw qerr('QubesPropertyValueError', 'Invalid keyboard layout provided');
  if (!/^[a-zA-Z0-9_-]*$/.test(variant)) throw qerr('QubesPropertyValueError', 'Invalid layout variant provided');
  if (!/^[a-zA-Z0-9_:,-]*$/.test(options)) throw qerr('QubesPropertyValueError', 'Invalid layout options provided');
}

/** admin.vm.property.Reset */
export function resetVmProperty(app: AppState, q: Qube, spec: PropertySpec): void {
  const name = spec.name;
  if (spec.access === 'write-once' && !vmPropIsDefault(q, name))
    throw drop(`AttributeError: property ${pyRepr(name)} is write-once and already set`);
  const oldValue = vmProp(app, q, name);
  // --- property-pre-reset handlers ---
  switch (name) {
    case 'template':
      if (q.klass === 'AppVM') {
        const dt = globalProp(app, 'default_template');
        if (typeof dt === 'string') {
          throw qerr('QubesValueError', `Cannot unset template. You can set it to the current default (${dt}) instead`);
        }
        throw qerr('QubesValueError', 'Cannot unset template');
      }
      if (q.klass === 'DispVM') throw qerr('QubesValueError', 'Cannot unset template');
      break;
    case 'netvm': {
      const dflt = vmPropDefault(app, q, 'netvm');
      const newVm = typeof dflt === 'string' ? (qubeNamed(app, dflt) ?? null) : null;
      checkNetvm(app, q, newVm);
      if ((newVm?.name ?? null) !== oldValue) preSetNetvmCheck(app, q, newVm);
      break;
    }
    case 'template_for_dispvms':
      checkTemplateForDispvmsOff(app, q, null, oldValue);
      break;
    default:
      break;
  }
  resetVmPropertyInternal(app, q, name);
}

function resetVmPropertyInternal(app: AppState, q: Qube, name: string): void {
  q.props.delete(name);
  afterChange(app, q, name);
}

// ---------------------------------------------------------------------------------------------
// global properties

export function setGlobalProperty(app: AppState, spec: PropertySpec, payload: Buffer): void {
  const text = sanitizeValue(spec, payload);
  setGlobalPropertyValue(app, spec, text);
}

export function setGlobalPropertyValue(app: AppState, spec: PropertySpec, text: string): void {
  const h: Holder = { kind: 'app' };
  const name = spec.name;
  let value = text;
  let vmValue: Qube | null = null;
  if (spec.type === 'vm') {
    vmValue = resolveVmValue(app, h, spec, text);
    value = vmValue === null ? '' : vmValue.name;
  }
  if (spec.access === 'read-only') forbidden(app, h, name);
  const oldValue = globalProp(app, name);
  switch (name) {
    case 'default_pool':
    case 'default_pool_private':
    case 'default_pool_root':
    case 'default_pool_volatile':
    case 'default_pool_kernel':
      if (!app.pools.has(value)) throw qerr('QubesPropertyValueError', 'No such storage pool');
      break;
    case 'default_netvm':
      if (vmValue !== null) {
        for (const vm of byQid(app)) {
          if (vm.klass === 'AdminVM' || vm.klass === 'RemoteVM' || !vmPropIsDefault(vm, 'netvm')) continue;
          if (vmValue === vm || vmsConnectedTo(app, vm).has(vmValue)) {
            throw qerr('QubesPropertyValueError', `Network loop on ${pyRepr(vm.name)}`);
          }
        }
      }
      break;
    case 'default_dispvm':
    case 'management_dispvm':
      validateDisposableTemplate(app, h, name, vmValue);
      break;
    default:
      break;
  }
  // --- pre-set handlers ---
  switch (name) {
    case 'default_kernel':
      validateKernel(app, value);
      break;
    case 'clockvm':
      if (vmValue !== null && !vmValue.features.has('service.clocksync'))
        setFeature(app, vmValue, 'service.clocksync', '1');
      break;
    case 'default_netvm':
      for (const vm of byQid(app)) {
        if (
          vm.klass === 'AdminVM' ||
          vm.klass === 'RemoteVM' ||
          vm.klass === 'TemplateVM' ||
          !vmPropIsDefault(vm, 'netvm')
        )
          continue;
        preSetNetvmCheck(app, vm, vmValue);
      }
      break;
    default:
      break;
  }
  app.globals.set(name, value);
  // --- set handlers ---
  switch (name) {
    case 'clockvm': {
      const old = typeof oldValue === 'string' ? qubeNamed(app, oldValue) : undefined;
      if (old !== undefined && oldValue !== value) {
        const f = old.features.get('service.clocksync');
        if (f !== undefined && f !== '') old.features.delete('service.clocksync');
      }
      break;
    }
    case 'default_guivm':
      for (const vm of byQid(app)) if (vm.klass !== 'AdminVM' && vmPropIsDefault(vm, 'guivm')) syncGuivmTag(app, vm);
      break;
    case 'default_audiovm':
      for (const vm of byQid(app))
        if (vm.klass !== 'AdminVM' && vmPropIsDefault(vm, 'audiovm')) syncAudiovmTag(app, vm);
      break;
    default:
      break;
  }
}

export function resetGlobalProperty(app: AppState, spec: PropertySpec): void {
  app.globals.delete(spec.name);
}

/** A global property value as a qube (or undefined). */
export function globalRef(app: AppState, name: string): Qube | undefined {
  const v = globalProp(app, name);
  return typeof v === 'string' ? qubeNamed(app, v) : undefined;
}

export { NOVAL, netvmOf, templateOf };
