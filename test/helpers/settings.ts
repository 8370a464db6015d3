// Comparing qube settings before a backup and after a restore.
import type { QubeSettings } from '../../src/core/qubes/model.ts';
import { RESTORE_EXCLUDED_PROPERTIES } from '../../src/core/qubes/properties.ts';

const byJson = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));
const sortedKeys = (o: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/**
 * Settings minus identity/host values a restore never writes (qid, uuid, backup_timestamp, …),
 * in a canonical form: tags and device assignments sorted (qubesd keeps neither in a meaningful
 * order), property and feature keys sorted (so JSON texts compare too). Firewall rules keep their
 * order: it is meaningful.
 */
export function comparable(s: QubeSettings | undefined): unknown {
  if (s === undefined) return undefined;
  const props = { ...s.properties };
  for (const p of RESTORE_EXCLUDED_PROPERTIES) delete props[p];
  return {
    ...s,
    properties: sortedKeys(props),
    features: sortedKeys(s.features),
    tags: [...s.tags].sort(),
    devices: [...s.devices].sort(byJson),
  };
}
