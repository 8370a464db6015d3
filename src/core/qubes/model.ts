// The shared data model of a qube's settings: what the qubes.xml reader produces from an
// archive, what the Admin API client reads from the live system, and what the restore planner
// compares. Plain data, checked with zod where it crosses a trust boundary.
//
// Conventions (they match the Admin API's text forms, docs/design.md "Admin API contract", so that archived and
// live values compare as text after normalisation):
// - property values are the Admin API text: bool `True`/`False`, int decimal digits, vm = a
//   qube name or '' for None, label = the label NAME (not the `label-N` id of qubes.xml),
//   str = the exact text.
// - `properties` holds only the properties with an EXPLICIT value (`default=False` live, or a
//   `<property>` element in qubes.xml). A property absent from the map follows its default.
import * as z from 'zod';

export const QUBE_CLASSES = ['AdminVM', 'AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM', 'RemoteVM'] as const;
export const QubeClassSchema = z.enum(QUBE_CLASSES);
export type QubeClass = z.infer<typeof QubeClassSchema>;

export const POWER_STATES = [
  'Halted',
  'Running',
  'Transient',
  'Paused',
  'Suspended',
  'Halting',
  'Dying',
  'Crashed',
  'NA',
] as const;
export const PowerStateSchema = z.enum(POWER_STATES);
export type PowerState = z.infer<typeof PowerStateSchema>;

/** One persistent device assignment (Qubes 4.3 form; the 4.2 form is mapped onto it). */
export const DeviceAssignmentSchema = z.strictObject({
  devclass: z.string(), // pci, block, usb, mic, …
  backend: z.string(), // backend qube name
  port: z.string(), // port id, e.g. `00_03.0`
  deviceId: z.string(), // device identity, `*` = any device in that port
  mode: z.enum(['required', 'auto-attach', 'ask-to-attach']),
  /** device options without the leading `_`, e.g. { 'no-strict-reset': 'True' } */
  options: z.record(z.string(), z.string()),
});
export type DeviceAssignment = z.infer<typeof DeviceAssignmentSchema>;

/**
 * One firewall rule as the Admin API writes it (`admin.vm.firewall.Get` line), e.g.
 * `action=accept proto=tcp dsthost=10.0.0.0/8 dstports=443-443`. Order matters.
 */
export const FirewallRuleSchema = z.string();
export type FirewallRule = z.infer<typeof FirewallRuleSchema>;

/**
 * One `<volume>` of a qube's `<volume-config>` in qubes.xml: the volume name (root, private,
 * volatile, kernel) and every other attribute as text (pool, vid, size, rw, snap_on_start,
 * save_on_stop, source, revisions_to_keep, ephemeral, …).
 */
export const VolumeConfigSchema = z.strictObject({
  name: z.string(),
  config: z.record(z.string(), z.string()),
});
export type VolumeConfig = z.infer<typeof VolumeConfigSchema>;

export const QubeSettingsSchema = z.strictObject({
  name: z.string(),
  klass: QubeClassSchema,
  /** explicitly set properties only (see conventions above) */
  properties: z.record(z.string(), z.string()),
  features: z.record(z.string(), z.string()),
  tags: z.array(z.string()),
  devices: z.array(DeviceAssignmentSchema),
  /** undefined = not known / not read; [] = no rules file (qubes' default: allow all) */
  firewall: z.array(FirewallRuleSchema).optional(),
  /** archived volume configuration (qubes.xml `<volume-config>`); undefined = not known */
  volumes: z.array(VolumeConfigSchema).optional(),
});
export type QubeSettings = z.infer<typeof QubeSettingsSchema>;

/** The parts of a qube's settings, each read with its own Admin API calls. */
export const SETTINGS_PARTS = ['properties', 'features', 'tags', 'devices', 'firewall'] as const;
export type SettingsPart = (typeof SETTINGS_PARTS)[number];

export const LabelSchema = z.strictObject({ index: z.number().int(), name: z.string(), color: z.string() });
export type Label = z.infer<typeof LabelSchema>;

export const PoolRecordSchema = z.strictObject({
  name: z.string(),
  driver: z.string(),
  /** every config key as text: dir_path, volume_group, thin_pool, revisions_to_keep, … */
  config: z.record(z.string(), z.string()),
});
export type PoolRecord = z.infer<typeof PoolRecordSchema>;

/** What an archived qubes.xml (plus the per-qube files of the metadata tar) describes. */
export const ArchivedSystemSchema = z.strictObject({
  /** explicitly set global properties (default_netvm, default_template, clockvm, …) */
  globals: z.record(z.string(), z.string()),
  labels: z.array(LabelSchema),
  pools: z.array(PoolRecordSchema),
  qubes: z.array(QubeSettingsSchema),
});
export type ArchivedSystem = z.infer<typeof ArchivedSystemSchema>;
