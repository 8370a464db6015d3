// The property table of Qubes OS 4.2 / 4.3 / 4.4 qubes and of the global (app) properties:
// types, the classes that have each property, default rules, and whether a value can or may be
// written back on restore. Pure data plus small lookups, shared by the qubes.xml reader, the
// restore planner and the fake qubesd.
//
// Facts come from the recorded Admin API (docs/design.md "Admin API contract" and the
// `admin.vm.property.GetAll` / `admin.property.GetAll` transcripts of qubes-core-admin 4.4.0)
// and from reading the property declarations of qubes-core-admin 4.2.39 / 4.3.50 / 4.4.0.
import { WqError } from '../errors.ts';
import { printable, qubeNameProblem } from '../names.ts';
import type { QubeClass } from './model.ts';

/** The `type=` of the Admin API (`admin.vm.property.Get`). */
export const PROPERTY_TYPES = ['bool', 'int', 'str', 'vm', 'label'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

export const QUBES_VERSIONS = ['4.2', '4.3', '4.4'] as const;
export type QubesVersion = (typeof QUBES_VERSIONS)[number];

/**
 * What a property's value is when it has no explicit value (`default=True`).
 * - constant: a fixed value (Admin API text).
 * - global: the value of the global property `global` (e.g. netvm → default_netvm).
 * - computed: derived at run time (from the qid, the hypervisor, the template, …); `note` says how.
 * - none: no default at all; `admin.vm.property.GetDefault` answers an empty body (label,
 *   template, qid, …) and an unset int reads as the empty string.
 * `fromTemplate`: a template-based qube (AppVM, DispVM) first takes its template's value
 * (qubesd's `_default_with_template`); the rule applies when there is no template.
 */
export type DefaultRule =
  | { kind: 'constant'; value: string; fromTemplate?: true }
  | { kind: 'global'; global: string; fromTemplate?: true }
  | { kind: 'computed'; note: string; fromTemplate?: true }
  | { kind: 'none' };

/**
 * - settable: Set/Reset work.
 * - read-only: computed or has a forbidding setter; Set → QubesPropertyValueError
 *   ("cannot be set"), Reset → `0\0`, nothing changes.
 * - write-once: set at creation (qid, uuid, name, dispid); Set/Reset → empty response.
 */
export type PropertyAccess = 'settable' | 'read-only' | 'write-once';

export interface PropertySpec {
  readonly name: string;
  readonly type: PropertyType;
  /** the classes having this property with THIS definition (a name may have several entries) */
  readonly classes: readonly QubeClass[];
  readonly default: DefaultRule;
  readonly access: PropertyAccess;
  /** value depends on the host or on the backup itself (ip, mac, installed_by_rpm, …) */
  readonly hostSpecific: boolean;
  /** qubesd's load stage: GetAll lists stage 2 (the default) first, then stage 4, each by name */
  readonly loadStage: 2 | 3 | 4;
  /** first Qubes release having this property (in this form) */
  readonly since: QubesVersion;
  /** stored in qubes.xml when explicit (false for computed "stateless" properties) */
  readonly stored: boolean;
  /** one line for humans */
  readonly doc: string;
}

const VM_CLASSES: readonly QubeClass[] = ['AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM'];
const DVM_TEMPLATE_CAPABLE: readonly QubeClass[] = ['AppVM', 'StandaloneVM'];
const ALL_CLASSES: readonly QubeClass[] = ['AdminVM', 'AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM', 'RemoteVM'];

interface Opts {
  access?: PropertyAccess;
  hostSpecific?: boolean;
  loadStage?: 2 | 3 | 4;
  since?: QubesVersion;
  stored?: boolean;
}

function p(
  name: string,
  type: PropertyType,
  classes: readonly QubeClass[],
  dflt: DefaultRule,
  doc: string,
  opts: Opts = {},
): PropertySpec {
  return Object.freeze({
    name,
    type,
    classes: Object.freeze([...classes]),
    default: Object.freeze(dflt),
    access: opts.access ?? 'settable',
    hostSpecific: opts.hostSpecific ?? false,
    loadStage: opts.loadStage ?? (type === 'vm' ? 4 : 2),
    since: opts.since ?? '4.2',
    stored: opts.stored ?? true,
    doc,
  });
}

/** computed at run time and never stored: read-only, not in qubes.xml */
function stateless(
  name: string,
  type: PropertyType,
  classes: readonly QubeClass[],
  note: string,
  since: QubesVersion = '4.2',
): PropertySpec {
  return p(name, type, classes, { kind: 'computed', note }, note, {
    access: 'read-only',
    stored: false,
    since,
    hostSpecific: false,
  });
}

const c = (value: string): DefaultRule => ({ kind: 'constant', value });
const g = (global: string, fromTemplate = false): DefaultRule =>
  fromTemplate ? { kind: 'global', global, fromTemplate: true } : { kind: 'global', global };
const computed = (note: string, fromTemplate = false): DefaultRule =>
  fromTemplate ? { kind: 'computed', note, fromTemplate: true } : { kind: 'computed', note };
const none: DefaultRule = { kind: 'none' };

/** Per-qube properties. Several entries may share a name when classes define it differently. */
export const VM_PROPERTIES: readonly PropertySpec[] = Object.freeze([
  // --- identity (BaseVM) ---
  p('name', 'str', VM_CLASSES, none, 'Name of the qube.', { access: 'write-once' }),
  p('qid', 'int', VM_CLASSES, none, 'Internal persistent id of the qube.', {
    access: 'write-once',
    hostSpecific: true,
  }),
  p('uuid', 'str', VM_CLASSES, none, 'UUID of the qube.', { access: 'write-once', hostSpecific: true }),
  p(
    'label',
    'label',
    ['AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM', 'AdminVM', 'RemoteVM'],
    none,
    'Colour label; Reset leaves the qube without label (never Reset it).',
  ),
  stateless('klass', 'str', ALL_CLASSES, 'The class name of the qube.'),
  stateless('icon', 'str', ALL_CLASSES, 'Icon name derived from class and label.'),
  // --- AdminVM (dom0) ---
  p('name', 'str', ['AdminVM'], c('dom0'), 'Always dom0.', { access: 'read-only' }),
  p('qid', 'int', ['AdminVM'], c('0'), 'Always 0.', { access: 'read-only' }),
  p('uuid', 'str', ['AdminVM'], c('00000000-0000-0000-0000-000000000000'), 'Always the zero UUID.', {
    access: 'read-only',
  }),
  p(
    'default_dispvm',
    'vm',
    ['AdminVM'],
    g('default_dispvm'),
    'Default disposable template for service calls from dom0.',
  ),
  p('include_in_backups', 'bool', ['AdminVM'], c('True'), 'Include dom0 (home) in default backups.'),
  p('updateable', 'bool', ['AdminVM'], c('True'), 'dom0 is updateable.', { access: 'read-only', stored: false }),
  p('devices_denied', 'str', ['AdminVM'], c(''), 'Device interface codes denied for this qube.', { since: '4.3' }),
  p('keyboard_layout', 'str', ['AdminVM'], c('us++'), 'Keyboard layout of dom0.'),
  p('maxmem', 'int', ['AdminVM'], computed('physical memory of dom0 in MiB'), 'Maximum memory of dom0.', {
    access: 'read-only',
    hostSpecific: true,
    since: '4.4',
    stored: false,
  }),
  // --- QubesVM (all local qubes except dom0) ---
  p(
    'bootmode',
    'str',
    VM_CLASSES,
    computed('feature boot-mode.active, else the template\'s appvm_default_bootmode, else "default"'),
    'Active boot mode.',
    { loadStage: 4, since: '4.3' },
  ),
  p('guivm', 'vm', VM_CLASSES, g('default_guivm'), 'Qube providing the GUI.'),
  p('audiovm', 'vm', VM_CLASSES, g('default_audiovm'), 'Qube providing audio.'),
  p(
    'virt_mode',
    'str',
    VM_CLASSES,
    computed("hvm with PCI devices, else the template's virt_mode, else pvh"),
    'Virtualisation mode: hvm, pv or pvh.',
  ),
  p('installed_by_rpm', 'bool', VM_CLASSES, c('False'), 'Installed from a package.', { hostSpecific: true }),
  p('memory', 'int', VM_CLASSES, computed('400 (hvm: qubes default hvm_memory)', true), 'Initial memory in MiB.'),
  p(
    'maxmem',
    'int',
    VM_CLASSES,
    computed('0 when memory balancing is impossible, else min(10 × memory for Linux or 4000, half the RAM)', true),
    'Maximum memory for the balancer, 0 = no balancing.',
  ),
  p('stubdom_mem', 'int', VM_CLASSES, none, 'Memory of the stub domain (empty = unset).', { hostSpecific: true }),
  p('vcpus', 'int', VM_CLASSES, computed('2', true), 'Number of virtual CPUs.'),
  p(
    'kernel',
    'str',
    VM_CLASSES,
    g('default_kernel', true),
    "Kernel version under /var/lib/qubes/vm-kernels; empty = the qube's own.",
  ),
  p(
    'kernelopts',
    'str',
    VM_CLASSES,
    computed("the kernel's default-kernelopts file, or the template's value, or built-in options", true),
    'Kernel command line.',
    { loadStage: 4 },
  ),
  p('debug', 'bool', VM_CLASSES, c('False'), 'Debugging features.'),
  p(
    'default_user',
    'str',
    VM_CLASSES,
    { kind: 'constant', value: 'user', fromTemplate: true },
    'Default user for applications.',
  ),
  p('qrexec_timeout', 'int', VM_CLASSES, g('default_qrexec_timeout', true), 'Seconds to wait for qrexec at start.'),
  p('shutdown_timeout', 'int', VM_CLASSES, g('default_shutdown_timeout', true), 'Seconds to wait for shutdown.'),
  p('autostart', 'bool', VM_CLASSES, c('False'), 'Start at dom0 boot (setting it runs systemctl in dom0).'),
  p('include_in_backups', 'bool', ['AppVM', 'TemplateVM', 'StandaloneVM'], c('True'), 'Include in default backups.'),
  p('backup_timestamp', 'int', VM_CLASSES, none, 'Time of the last backup (written by the backup).', {
    hostSpecific: true,
  }),
  p(
    'default_dispvm',
    'vm',
    ['AppVM', 'TemplateVM', 'StandaloneVM'],
    g('default_dispvm'),
    'Default disposable template for service calls (needs template_for_dispvms).',
  ),
  p('management_dispvm', 'vm', VM_CLASSES, g('management_dispvm', true), 'Disposable template for managing this qube.'),
  p('updateable', 'bool', VM_CLASSES, computed('True when the qube has no template'), 'May be updated on its own.', {
    access: 'read-only',
    stored: false,
  }),
  p('devices_denied', 'str', VM_CLASSES, c(''), 'Device interface codes denied for this qube.', { since: '4.3' }),
  p('keyboard_layout', 'str', VM_CLASSES, computed("the guivm's keyboard_layout, else us++"), 'Keyboard layout.'),
  stateless('xid', 'int', VM_CLASSES, 'Xen domain id, -1 when halted.'),
  stateless('stubdom_xid', 'int', VM_CLASSES, 'Xen domain id of the stub domain, -1 when none.'),
  stateless('stubdom_uuid', 'str', VM_CLASSES, 'UUID of the stub domain.', '4.3'),
  stateless('start_time', 'str', VM_CLASSES, 'Start time of a running qube.'),
  // --- NetVMMixin ---
  p('mac', 'str', VM_CLASSES, c('00:16:3e:5e:6c:00'), 'MAC address of the emulated NIC.', { hostSpecific: true }),
  p('ip', 'str', VM_CLASSES, computed('derived from the qid (10.137.x.y; disposables 10.138.x.y)'), 'IPv4 address.', {
    hostSpecific: true,
  }),
  p('ip6', 'str', VM_CLASSES, computed('derived from the qid when IPv6 is on, else empty'), 'IPv6 address.', {
    hostSpecific: true,
  }),
  p(
    'netvm',
    'vm',
    ['AppVM', 'StandaloneVM', 'DispVM'],
    g('default_netvm'),
    'Network qube; empty = none (needs provides_network).',
  ),
  p('netvm', 'vm', ['TemplateVM'], none, 'Network qube of a template (default none).'),
  p('provides_network', 'bool', VM_CLASSES, c('False'), 'The qube can serve as netvm.'),
  stateless('visible_ip', 'str', VM_CLASSES, 'IPv4 address seen by the network qube.'),
  stateless('visible_ip6', 'str', VM_CLASSES, 'IPv6 address seen by the network qube.'),
  stateless('visible_gateway', 'str', VM_CLASSES, 'Gateway seen by the qube.'),
  stateless('visible_gateway6', 'str', VM_CLASSES, 'IPv6 gateway seen by the qube.'),
  stateless('visible_netmask', 'str', VM_CLASSES, 'Netmask seen by the qube.'),
  stateless('gateway', 'str', VM_CLASSES, 'Gateway this qube provides to others.'),
  stateless('gateway6', 'str', VM_CLASSES, 'IPv6 gateway this qube provides to others.'),
  stateless('dns', 'str', VM_CLASSES, 'DNS servers given to the qube.'),
  // --- DVMTemplateMixin ---
  p('template_for_dispvms', 'bool', DVM_TEMPLATE_CAPABLE, c('False'), 'May serve as a disposable template.'),
  // --- AppVM / DispVM ---
  p('template', 'vm', ['AppVM'], none, 'TemplateVM the qube is based on (Reset refused; Set only while halted).'),
  p('template', 'vm', ['DispVM'], none, 'Disposable template the disposable is based on.'),
  // --- TemplateVM ---
  p(
    'appvm_default_bootmode',
    'str',
    ['TemplateVM'],
    computed('"default"'),
    'Default boot mode of qubes based on this template.',
    {
      loadStage: 4,
      since: '4.3',
    },
  ),
  // --- DispVM ---
  p('dispid', 'int', ['DispVM'], none, 'Persistent id of the disposable.', {
    access: 'write-once',
    hostSpecific: true,
  }),
  p('auto_cleanup', 'bool', ['DispVM'], c('False'), 'Remove the disposable on shutdown.'),
  p('include_in_backups', 'bool', ['DispVM'], computed('not auto_cleanup'), 'Include in default backups.'),
  p(
    'default_dispvm',
    'vm',
    ['DispVM'],
    computed("the disposable's template"),
    'Default disposable template for service calls.',
  ),
  stateless('is_preload', 'bool', ['DispVM'], 'The disposable is a preloaded one.', '4.3'),
  // --- RemoteVM ---
  p('name', 'str', ['RemoteVM'], none, 'Name of the qube.', { access: 'write-once' }),
  p('qid', 'int', ['RemoteVM'], none, 'Internal persistent id of the qube.', {
    access: 'write-once',
    hostSpecific: true,
  }),
  p('uuid', 'str', ['RemoteVM'], none, 'UUID of the qube.', { access: 'write-once', hostSpecific: true }),
  p('include_in_backups', 'bool', ['RemoteVM'], c('False'), 'Include in default backups.'),
  p('relayvm', 'vm', ['RemoteVM'], none, 'Local qube used as relay.'),
  p('transport_rpc', 'str', ['RemoteVM'], none, 'Transport RPC used by the relay.'),
  p('remote_name', 'str', ['RemoteVM'], none, 'Name on the remote host.'),
]);

/** Global properties (`admin.property.*`, `<properties>` of qubes.xml's root). */
export const GLOBAL_PROPERTIES: readonly PropertySpec[] = Object.freeze(
  [
    p('default_guivm', 'vm', [], c('dom0'), 'Default GUI qube.'),
    p('default_audiovm', 'vm', [], c('dom0'), 'Default audio qube.'),
    p('default_netvm', 'vm', [], none, 'Default network qube (checked for loops only).'),
    p('default_template', 'vm', [], none, 'Default template for new AppVMs (must be a TemplateVM).'),
    p('updatevm', 'vm', [], none, 'Qube proxying updates of dom0 and templates.'),
    p('clockvm', 'vm', [], none, 'Qube providing time to dom0.'),
    p('default_kernel', 'str', [], none, 'Kernel used when a qube does not override it.'),
    p('default_dispvm', 'vm', [], none, 'Default disposable template (needs template_for_dispvms).'),
    p('management_dispvm', 'vm', [], none, 'Default disposable template for management.'),
    p(
      'default_pool',
      'str',
      [],
      computed('lvm pool of the root volume group, else varlibqubes'),
      'Default storage pool.',
      {
        hostSpecific: true,
      },
    ),
    p('default_pool_private', 'str', [], g('default_pool'), 'Default pool for private volumes.', {
      hostSpecific: true,
    }),
    p('default_pool_root', 'str', [], g('default_pool'), 'Default pool for root volumes.', { hostSpecific: true }),
    p('default_pool_volatile', 'str', [], g('default_pool'), 'Default pool for volatile volumes.', {
      hostSpecific: true,
    }),
    p('default_pool_kernel', 'str', [], g('default_pool'), 'Default pool for kernel volumes.', { hostSpecific: true }),
    p('default_qrexec_timeout', 'int', [], c('60'), 'Default qrexec timeout.'),
    p('default_shutdown_timeout', 'int', [], c('60'), 'Default shutdown timeout.'),
    p('stats_interval', 'int', [], c('3'), 'Interval of VM stats reports.'),
    p('check_updates_vm', 'bool', [], c('True'), 'Check for updates inside qubes.'),
    p('maxmem', 'int', [], computed('physical memory of the host in MiB'), 'Maximum system memory.', {
      access: 'read-only',
      hostSpecific: true,
      since: '4.4',
      stored: false,
    }),
    p('no_cpus', 'int', [], computed('number of host CPUs'), 'Quantity of CPUs.', {
      access: 'read-only',
      hostSpecific: true,
      since: '4.4',
      stored: false,
    }),
  ].map((spec) => Object.freeze({ ...spec, loadStage: 3 as const })),
);

const VERSION_RANK: Record<QubesVersion, number> = { '4.2': 0, '4.3': 1, '4.4': 2 };

function inVersion(spec: PropertySpec, version: QubesVersion): boolean {
  return VERSION_RANK[spec.since] <= VERSION_RANK[version];
}

const BY_CLASS_AND_NAME = new Map<string, PropertySpec>();
for (const spec of VM_PROPERTIES)
  for (const klass of spec.classes) BY_CLASS_AND_NAME.set(`${klass}:${spec.name}`, spec);

/** The definition of property `name` for a qube of class `klass`, or undefined when it has none. */
export function propertyInfo(name: string, klass: QubeClass, version: QubesVersion = '4.4'): PropertySpec | undefined {
  const spec = BY_CLASS_AND_NAME.get(`${klass}:${name}`);
  return spec !== undefined && inVersion(spec, version) ? spec : undefined;
}

/** The definition of the global property `name`, or undefined. */
export function globalPropertyInfo(name: string, version: QubesVersion = '4.4'): PropertySpec | undefined {
  return GLOBAL_PROPERTIES.find((s) => s.name === name && inVersion(s, version));
}

function getAllOrder(a: PropertySpec, b: PropertySpec): number {
  if (a.loadStage !== b.loadStage) return a.loadStage - b.loadStage;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Every property of class `klass`, in the order `admin.vm.property.GetAll` lists them. */
export function propertiesOf(klass: QubeClass, version: QubesVersion = '4.4'): PropertySpec[] {
  return VM_PROPERTIES.filter((s) => s.classes.includes(klass) && inVersion(s, version)).sort(getAllOrder);
}

/** Every global property, in the order `admin.property.GetAll` lists them. */
export function globalProperties(version: QubesVersion = '4.4'): PropertySpec[] {
  return GLOBAL_PROPERTIES.filter((s) => inVersion(s, version)).sort(getAllOrder);
}

/**
 * True when the property names another qube (type `vm`): netvm, template, default_dispvm,
 * guivm, audiovm, management_dispvm, relayvm; globals default_netvm, clockvm, updatevm, ….
 * With `klass`, the answer is for that class; without, for any class.
 */
export function isReferenceProperty(name: string, klass?: QubeClass): boolean {
  if (klass !== undefined) return propertyInfo(name, klass)?.type === 'vm';
  return VM_PROPERTIES.some((s) => s.name === name && s.type === 'vm');
}

/** True when the global property `name` names a qube. */
export function isGlobalReferenceProperty(name: string): boolean {
  return globalPropertyInfo(name)?.type === 'vm';
}

/** Names of every property of any class that refers to a qube. */
export const REFERENCE_PROPERTIES: readonly string[] = Object.freeze(
  [...new Set(VM_PROPERTIES.filter((s) => s.type === 'vm').map((s) => s.name))].sort(),
);

/** Exactly the properties wyng-util-qubes 0.9 never restores (docs/design.md "Admin API contract"). */
export const WYNG_UTIL_QUBES_SKIPPED_PROPERTIES: readonly string[] = Object.freeze([
  'dispid',
  'installed_by_rpm',
  'default_dispvm',
  'qid',
  'uuid',
  'xid',
  'klass',
  'label',
  'name',
  'backup_timestamp',
  'ip',
  'ip6',
  'stubdom_mem',
  'stubdom_xid',
]);

/**
 * Properties a restore never writes with `property.Set` on a qube (docs/design.md "Admin API
 * contract"): identity / write-once, computed without setter, host-specific (dom0's own read-only
 * ones, e.g. its `maxmem`, are not listed: use restoreExclusionReason for a class-exact answer).
 * `label` and `template` are not here: they are written, but at creation / in their own step
 * (see SPECIAL_RESTORE_PROPERTIES).
 */
export const RESTORE_EXCLUDED_PROPERTIES: readonly string[] = Object.freeze(
  [
    ...new Set([
      ...VM_PROPERTIES.filter(
        (s) => s.classes.some((k) => VM_CLASSES.includes(k)) && (s.access !== 'settable' || s.hostSpecific),
      ).map((s) => s.name),
      ...WYNG_UTIL_QUBES_SKIPPED_PROPERTIES.filter((n) => n !== 'label' && n !== 'default_dispvm'),
    ]),
  ].sort(),
);

/** Written in a step of their own: `label` (at Create, never Reset), `template` (Create argument; Set only halted). */
export const SPECIAL_RESTORE_PROPERTIES: readonly string[] = Object.freeze(['label', 'template']);

/** Why a restore must not Set `name` on a `klass` qube, or undefined when it may. */
export function restoreExclusionReason(name: string, klass: QubeClass): string | undefined {
  const spec = propertyInfo(name, klass);
  if (spec === undefined) return `${klass} has no property '${name}'`;
  if (spec.access === 'write-once') return 'write-once identity property';
  if (spec.access === 'read-only') return 'read-only (computed) property';
  if (spec.hostSpecific) return 'host-specific value';
  if (SPECIAL_RESTORE_PROPERTIES.includes(name)) return 'restored in its own step';
  return undefined;
}

const BOOL_TRUE = new Set(['1', 'yes', 'true', 'on']);
const BOOL_FALSE = new Set(['0', 'no', 'false', 'off']);

/** Python int() literal: optional sign, digits with single underscores between, surrounding whitespace. */
const PY_INT = /^\s*([+-]?)(\d(?:_?\d)*)\s*$/;

/**
 * The canonical Admin API text of a value of type `type` (what qubesd would report after a Set):
 * bool: `1 yes true on` / `0 no false off` in any case → `True` / `False`;
 * int: Python int() text (`" 800"`, `8_00`, `+5`) → plain decimal; empty = unset, stays empty;
 * vm: a valid qube name, or empty for none; label: a label name; str: unchanged.
 * Throws WqError('input') for values qubesd would refuse.
 */
export function normalisePropertyValue(type: PropertyType, text: string): string {
  const problem = propertyValueProblem(type, text);
  if (problem !== undefined) throw new WqError('input', problem);
  switch (type) {
    case 'bool':
      return BOOL_TRUE.has(text.trim().toLowerCase()) ? 'True' : 'False';
    case 'int': {
      if (text === '') return '';
      const m = PY_INT.exec(text) as RegExpExecArray;
      const digits = (m[2] as string).replace(/_/g, '').replace(/^0+(?=\d)/, '');
      return (m[1] === '-' && digits !== '0' ? '-' : '') + digits;
    }
    case 'vm':
    case 'label':
    case 'str':
      return text;
  }
}

/** Why `text` is not a valid value of type `type`, or undefined. */
export function propertyValueProblem(type: PropertyType, text: string): string | undefined {
  switch (type) {
    case 'bool': {
      const t = text.trim().toLowerCase();
      return BOOL_TRUE.has(t) || BOOL_FALSE.has(t)
        ? undefined
        : `Invalid literal for boolean property: '${printable(text)}'`;
    }
    case 'int':
      return text === '' || PY_INT.test(text) ? undefined : `Invalid integer value '${printable(text)}'`;
    case 'vm': {
      if (text === '' || text === 'dom0') return undefined;
      const problem = qubeNameProblem(text);
      return problem === undefined ? undefined : `Invalid qube reference '${printable(text)}': ${problem}`;
    }
    case 'label':
      return /^[A-Za-z0-9_-]+$/.test(text) ? undefined : `Invalid label name '${printable(text)}'`;
    case 'str':
      return undefined;
  }
}
