// Settings diff of one qube: archived settings (target) against live settings (current).
// Pure: the result lists exactly the writes a restore has to make, so an unchanged qube
// produces an empty diff and its restore makes no Admin API write at all.
import type { DeviceAssignment, QubeSettings } from '../qubes/model.ts';
import { normalisePropertyValue, propertyInfo, RESTORE_EXCLUDED_PROPERTIES } from '../qubes/properties.ts';

export const IN_PROGRESS_TAG = 'backup-restore-in-progress';

/**
 * Properties a restore never writes (identity, computed, host-specific; the property table's
 * RESTORE_EXCLUDED_PROPERTIES). Unlike wyng-util-qubes, `default_dispvm` is restored: settings
 * are applied in dependency order, so the disposable template has `template_for_dispvms`
 * before anything points at it.
 */
export const NEVER_RESTORED: ReadonlySet<string> = new Set(RESTORE_EXCLUDED_PROPERTIES);

/** Compares values as the property's type says (`true` = `True`, `0800` = `800`). */
export function tableNormaliser(name: string, value: string): string {
  const spec = propertyInfo(name, 'AppVM') ?? propertyInfo(name, 'TemplateVM') ?? propertyInfo(name, 'AdminVM');
  if (spec === undefined) return value;
  try {
    return normalisePropertyValue(spec.type, value);
  } catch {
    return value;
  }
}

/** Handled outside the generic property loop. */
export const SPECIAL_PROPERTIES = new Set(['label', 'template']);

/**
 * Tags qubesd and its extensions manage themselves (`created-by-*` on create, `guivm-*` and
 * `audiovm-*` from the matching properties): a restore neither adds nor removes them.
 */
export function isSystemTag(tag: string): boolean {
  return tag === IN_PROGRESS_TAG || /^(created-by-|guivm-|audiovm-)/.test(tag);
}

/** Features qubesd's extensions derive from properties; written back by qubesd itself. */
export const SYSTEM_FEATURES = new Set(['servicevm', 'service.clocksync']);

export interface ValueChange {
  name: string;
  /** live explicit value; null = currently default */
  from: string | null;
  /** archived value; null = reset to default (properties) / remove (features) */
  to: string | null;
}

export interface TagChange {
  tag: string;
  op: 'add' | 'remove';
}

export interface DeviceChange {
  op: 'assign' | 'unassign';
  assignment: DeviceAssignment;
}

export interface SettingsDiff {
  label: ValueChange | null;
  template: ValueChange | null;
  properties: ValueChange[];
  features: ValueChange[];
  tags: TagChange[];
  devices: DeviceChange[];
  /** null = unchanged */
  firewall: { from: string[]; to: string[] } | null;
  /** null = unchanged */
  notes: { changed: true; bytes: number } | null;
}

export function emptyDiff(): SettingsDiff {
  return {
    label: null,
    template: null,
    properties: [],
    features: [],
    tags: [],
    devices: [],
    firewall: null,
    notes: null,
  };
}

export function diffSize(diff: SettingsDiff): number {
  return (
    (diff.label ? 1 : 0) +
    (diff.template ? 1 : 0) +
    diff.properties.length +
    diff.features.length +
    diff.tags.length +
    diff.devices.length +
    (diff.firewall ? 1 : 0) +
    (diff.notes ? 1 : 0)
  );
}

/** Normalises a property value for comparison (bool spelling, int text, …). */
export type NormaliseValue = (name: string, value: string) => string;

export interface DiffInput {
  target: QubeSettings;
  /** undefined: the qube does not exist yet (it will be created with label and template) */
  current: QubeSettings | undefined;
  skip: ReadonlySet<string>;
  normalise: NormaliseValue;
  /** archived value overrides decided by the planner (e.g. a missing netvm under --ignore-missing) */
  overrides?: ReadonlyMap<string, string | null>;
  targetNotes?: string;
  currentNotes?: string;
}

export function deviceKey(d: DeviceAssignment): string {
  const options = Object.keys(d.options)
    .sort()
    .map((k) => `${k}=${d.options[k]}`)
    .join(',');
  return `${d.devclass}|${d.backend}|${d.port}|${d.deviceId}|${d.mode}|${options}`;
}

const DEFAULT_FIREWALL = ['action=accept'];

export function diffSettings(input: DiffInput): SettingsDiff {
  const { target, current, skip, normalise } = input;
  const diff = emptyDiff();
  const curProps = current?.properties ?? {};
  const targetProps: Record<string, string | null> = { ...target.properties };
  for (const [name, value] of input.overrides ?? []) targetProps[name] = value;

  const same = (name: string, a: string | undefined, b: string | undefined): boolean =>
    a !== undefined && b !== undefined && normalise(name, a) === normalise(name, b);

  // label: always explicit in qubes.xml; set when it differs, never reset
  const wantLabel = targetProps.label;
  if (typeof wantLabel === 'string' && current && !same('label', wantLabel, curProps.label)) {
    diff.label = { name: 'label', from: curProps.label ?? null, to: wantLabel };
  }
  // template: given at create time, otherwise set when it differs (never reset)
  const wantTemplate = targetProps.template;
  if (typeof wantTemplate === 'string' && current && !same('template', wantTemplate, curProps.template)) {
    diff.template = { name: 'template', from: curProps.template ?? null, to: wantTemplate };
  }

  const names = new Set([...Object.keys(targetProps), ...Object.keys(curProps)]);
  for (const name of [...names].sort()) {
    if (SPECIAL_PROPERTIES.has(name) || NEVER_RESTORED.has(name) || skip.has(name)) continue;
    const want = targetProps[name];
    const have = curProps[name];
    if (want === null || want === undefined) {
      if (have !== undefined) diff.properties.push({ name, from: have, to: null });
    } else if (!same(name, want, have)) {
      diff.properties.push({ name, from: have ?? null, to: want });
    }
  }

  const curFeatures = current?.features ?? {};
  for (const name of Object.keys(target.features).sort()) {
    const want = target.features[name]!;
    if (curFeatures[name] !== want) diff.features.push({ name, from: curFeatures[name] ?? null, to: want });
  }
  for (const name of Object.keys(curFeatures).sort()) {
    if (!(name in target.features) && !SYSTEM_FEATURES.has(name)) {
      diff.features.push({ name, from: curFeatures[name]!, to: null });
    }
  }

  const curTags = new Set(current?.tags ?? []);
  const wantTags = new Set(target.tags.filter((t) => !isSystemTag(t)));
  for (const tag of [...wantTags].sort()) if (!curTags.has(tag)) diff.tags.push({ tag, op: 'add' });
  for (const tag of [...curTags].sort()) {
    if (!wantTags.has(tag) && !isSystemTag(tag)) diff.tags.push({ tag, op: 'remove' });
  }

  const curDevices = new Map((current?.devices ?? []).map((d) => [deviceKey(d), d]));
  const wantDevices = new Map(target.devices.map((d) => [deviceKey(d), d]));
  for (const [key, d] of curDevices) if (!wantDevices.has(key)) diff.devices.push({ op: 'unassign', assignment: d });
  for (const [key, d] of wantDevices) if (!curDevices.has(key)) diff.devices.push({ op: 'assign', assignment: d });

  if (target.firewall !== undefined) {
    const want = target.firewall.length > 0 ? target.firewall : DEFAULT_FIREWALL;
    const have = current?.firewall ?? DEFAULT_FIREWALL;
    if (want.join('\n') !== have.join('\n')) diff.firewall = { from: have, to: want };
  }

  if (input.targetNotes !== undefined && input.targetNotes !== (input.currentNotes ?? '')) {
    diff.notes = { changed: true, bytes: Buffer.byteLength(input.targetNotes) };
  }
  return diff;
}
