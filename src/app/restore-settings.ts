// The live settings a restore plans from (issue 17, "a restore check that costs almost nothing").
// A draft plan is made from qubesd's own files (the live qubes.xml and firewall.xml: no Admin
// API call); then, for each qube the draft would change, exactly the parts it changes are read
// again through the Admin API and put over the file's, and the caller plans again from those.
// So a value the plan writes, and its `from`, is always what qubesd holds, never what a file
// said; the file only decides what needs no second look. Qubes the files do not hold, or when
// they cannot be read, are read from qubesd as a whole.
import type { QubeSettings, SettingsPart } from '../core/qubes/model.ts';
import { partsOf } from '../core/restore/apply.ts';
import { SETTINGS_PARTS } from '../core/qubes/model.ts';
import type { RestorePlan } from '../core/restore/plan.ts';
import type { QubesSystem } from './ports.ts';

/** Which parts of which qubes the draft plan would touch (all parts of a qube it creates or replaces). */
export function partsToConfirm(draft: RestorePlan, names: ReadonlySet<string>): Map<string, Set<SettingsPart>> {
  const out = new Map<string, Set<SettingsPart>>();
  for (const q of draft.qubes) {
    if (!names.has(q.name)) continue;
    if (q.action !== 'overwrite') out.set(q.name, new Set(SETTINGS_PARTS));
    else {
      const parts = partsOf(q.changes);
      if (q.staleTag) parts.add('tags');
      if (parts.size > 0) out.set(q.name, parts);
    }
  }
  return out;
}

/** The file's settings with the confirmed parts taken from qubesd. */
function overlay(file: QubeSettings, api: QubeSettings, parts: ReadonlySet<SettingsPart>): QubeSettings {
  return {
    ...file,
    ...(parts.has('properties') ? { properties: api.properties } : {}),
    ...(parts.has('features') ? { features: api.features } : {}),
    ...(parts.has('tags') ? { tags: api.tags } : {}),
    ...(parts.has('devices') ? { devices: api.devices } : {}),
    ...(parts.has('firewall') && api.firewall !== undefined ? { firewall: api.firewall } : {}),
  };
}

/**
 * Live settings of `names` for the plan: from the files, with what `plan(draft settings)` would
 * change confirmed through qubesd. Returns the settings to plan from for real.
 */
export async function confirmedSettings(
  live: QubesSystem,
  names: readonly string[],
  plan: (settings: Map<string, QubeSettings>) => RestorePlan,
): Promise<Map<string, QubeSettings>> {
  const files = live.readSettingsFromFiles(names);
  if (files === undefined) return live.readSettings(names);
  const missing = names.filter((n) => !files.has(n));
  const fromApi = missing.length > 0 ? await live.readSettings(missing) : new Map<string, QubeSettings>();
  const draft = new Map([...files, ...fromApi]);
  const confirm = partsToConfirm(plan(draft), new Set(files.keys()));
  if (confirm.size === 0) return draft;
  const read = await live.readSettings([...confirm.keys()], confirm);
  for (const [name, parts] of confirm) {
    const api = read.get(name);
    if (api !== undefined) draft.set(name, overlay(draft.get(name)!, api, parts)); // (gone meanwhile: its writes fail)
  }
  return draft;
}
