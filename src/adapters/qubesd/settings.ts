// Batched read of live qube settings into the shared QubeSettings model.
//
// Call budget for N qubes (measured, see the contract test and bench):
//   1 admin.vm.List (shared)
//   per qube: 1 admin.vm.property.GetAll      (every property, instead of one Get each)
//             1 admin.vm.feature.List + 1 admin.vm.feature.Get PER FEATURE
//                 (qubesd has no batch read of feature values, docs/design.md "Admin API contract" — a typical
//                  qube has 0–5 features; templates report a few of their own)
//             1 admin.vm.tag.List
//             devices: 1 admin.vm.device.<c>.Assigned per class asked for (+1 deviceclass.List
//                 shared); `devices: 'none'` or a per-qube class list keeps this to where needed
//             firewall: 1 admin.vm.firewall.Get when `firewall: true`
// So without devices and firewall: 1 + N × (3 + features). Measured: the lab qubesd's 10 qubes
// (15 features, 2 device classes) = 67 calls; a generated 199-qube qubes.xml in the fake qubesd
// (494 features) = 1092 calls without devices (5.5 per qube), 1491 with both classes (7.5).
// The feature values are the only part that is not batched. Everything goes through the
// client's read cache: a second read of the same qubes costs no call until a write happens.
import {
  QubeSettingsSchema,
  type DeviceAssignment,
  type QubeSettings,
  type SettingsPart,
} from '../../core/qubes/model.ts';
import type { PropertyValue, VmListEntry } from '../../core/qubesapi/parse.ts';
import { checkQubeName } from '../../core/qubesapi/validate.ts';

/** The reads of the Admin API client (client.ts) that settings are made of. */
export interface SettingsSource {
  listQubes(): Promise<VmListEntry[]>;
  getAllProperties(qube: string): Promise<Map<string, PropertyValue>>;
  getAllGlobals(): Promise<Map<string, PropertyValue>>;
  getFeatures(qube: string): Promise<Record<string, string>>;
  listTags(qube: string): Promise<string[]>;
  deviceClasses(): Promise<string[]>;
  assignedDevices(qube: string, devclass: string): Promise<DeviceAssignment[]>;
  getFirewall(qube: string): Promise<string[]>;
}

export interface ReadSettingsOptions {
  /**
   * Which device classes to read: every class qubesd knows ('all', the default), none, a fixed
   * list, or a per-qube choice (e.g. only the classes an archived qube had).
   */
  devices?: 'all' | 'none' | readonly string[] | ((qube: VmListEntry) => readonly string[]);
  /** Also read the firewall rules (1 call per qube, not for dom0). Default false. */
  firewall?: boolean;
  /**
   * Only these parts of the named qubes (the others come back empty: the caller does not look at
   * them); a qube not in the map gets every part (the firewall as `firewall` says).
   */
  parts?: ReadonlyMap<string, ReadonlySet<SettingsPart>>;
  /** Parallel connections to qubesd (default 8). */
  concurrency?: number;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

async function readOne(client: SettingsSource, q: VmListEntry, opts: ReadSettingsOptions): Promise<QubeSettings> {
  const isAdmin = q.klass === 'AdminVM';
  const want = (part: SettingsPart): boolean =>
    opts.parts?.get(q.name)?.has(part) ?? (part !== 'firewall' || opts.firewall === true);
  const deviceOpt = opts.devices ?? 'all';
  const classes: readonly string[] =
    isAdmin || !want('devices')
      ? [] // dom0 has no device assignments
      : deviceOpt === 'none'
        ? []
        : deviceOpt === 'all'
          ? await client.deviceClasses()
          : typeof deviceOpt === 'function'
            ? deviceOpt(q)
            : deviceOpt;
  const [props, features, tags, devices, firewall] = await Promise.all([
    want('properties') ? client.getAllProperties(q.name) : new Map<string, PropertyValue>(),
    want('features') ? client.getFeatures(q.name) : {},
    want('tags') ? client.listTags(q.name) : [],
    Promise.all(classes.map((c) => client.assignedDevices(q.name, c))),
    want('firewall') && !isAdmin ? client.getFirewall(q.name) : Promise.resolve(undefined),
  ]);
  const properties: Record<string, string> = {};
  for (const [name, p] of props) if (!p.isDefault) properties[name] = p.value;
  const settings: QubeSettings = {
    name: q.name,
    klass: q.klass,
    properties,
    features,
    tags: [...tags].sort(),
    devices: devices.flat(),
    ...(firewall === undefined ? {} : { firewall }),
  };
  return QubeSettingsSchema.parse(settings);
}

/**
 * Reads every setting of the named qubes: explicit properties only (`default=False`, label as
 * its name), features with values, tags, device assignments, optionally firewall rules. Names
 * that are not live qubes are absent from the result (the caller decides what that means).
 */
export async function readQubeSettings(
  client: SettingsSource,
  names: readonly string[],
  opts: ReadSettingsOptions = {},
): Promise<Map<string, QubeSettings>> {
  names.forEach((n) => checkQubeName(n));
  const live = new Map((await client.listQubes()).map((q) => [q.name, q]));
  const wanted = [...new Set(names)].flatMap((n) => {
    const q = live.get(n);
    return q === undefined ? [] : [q];
  });
  const read = await mapLimit(wanted, opts.concurrency ?? 8, (q) => readOne(client, q, opts));
  return new Map(read.map((s) => [s.name, s]));
}

/** Explicit global properties (`default=False`), values as the Admin API writes them. */
export async function readGlobalSettings(client: SettingsSource): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, p] of await client.getAllGlobals()) if (!p.isDefault) out[name] = p.value;
  return out;
}
