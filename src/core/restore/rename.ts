// Restoring under other names (issue 19 §1): `restore QUBE --as NEW` puts the archived QUBE next
// to the live one as NEW; `--rename-conflicting` restores a qube whose name is taken live by a
// qube of another class as NAME1, NAME2, … Pure: it rewrites the restore's target (the archived
// settings, notes and session volumes) so that the planner and applyRestore see the new names;
// the archive volume names stay (Wyng receives them into the new qube's volumes).
import { WqError } from '../errors.ts';
import { qubeNameProblem } from '../names.ts';
import type { QubeSettings } from '../qubes/model.ts';
import type { ArchivedRestoreSource } from './archived.ts';
import { REFERENCE_PROPERTIES } from './order.ts';
import { selectRestoreQubes, type LiveQube, type RestoreRequest, type SessionVolumes } from './plan.ts';

export interface RenameRequest {
  /** the qubes named on the command line */
  qubes: readonly string[];
  /** `--as NEW` (exactly one qube) */
  as?: string | undefined;
  renameConflicting: boolean;
  /** qubes this run restores, as selected under their archived names */
  selected: readonly string[];
}

export interface RenamedSource {
  source: ArchivedRestoreSource;
  sessionVolumes: Record<string, SessionVolumes>;
  /** the request's qube names after renaming */
  qubes: string[];
  /** archived name → name restored as */
  renames: Record<string, string>;
}

/**
 * Which selected qubes get which new names. `--as` requires exactly one named qube and a free,
 * valid target name; `--rename-conflicting` picks the first free NAME<n> for each selected qube
 * whose live namesake is of another class. Throws WqError('option' | 'selection') before anything
 * is written.
 */
export function planRenames(
  request: RenameRequest,
  archived: readonly QubeSettings[],
  live: readonly LiveQube[],
): Record<string, string> {
  const liveByName = new Map(live.map((q) => [q.name, q]));
  const archivedNames = new Set(archived.map((q) => q.name));
  const renames: Record<string, string> = {};
  if (request.as !== undefined) {
    if (request.qubes.length !== 1) throw new WqError('option', '--as takes exactly one qube to restore.');
    if (request.renameConflicting) throw new WqError('option', '--as and --rename-conflicting exclude each other.');
    const from = request.qubes[0]!;
    const to = request.as;
    const problem = qubeNameProblem(to);
    if (problem !== undefined) throw new WqError('option', `--as: invalid qube name '${to}': ${problem}.`);
    if (to === from) throw new WqError('option', `--as: '${to}' is the qube's own name.`);
    if (liveByName.has(to)) throw new WqError('selection', `--as: a qube named '${to}' already exists.`);
    if (archivedNames.has(to))
      throw new WqError('selection', `--as: the session holds another qube named '${to}'; choose another name.`);
    if (request.selected.includes(from)) renames[from] = to;
    return renames;
  }
  if (!request.renameConflicting) return renames;
  const taken = new Set([...liveByName.keys(), ...archivedNames]);
  for (const name of request.selected) {
    const current = liveByName.get(name);
    const target = archived.find((q) => q.name === name);
    if (current === undefined || target === undefined || current.klass === target.klass) continue;
    if (current.klass === 'AdminVM') continue;
    let n = 1;
    while (taken.has(`${name}${n}`)) n += 1;
    const to = `${name}${n}`;
    const problem = qubeNameProblem(to);
    if (problem !== undefined)
      throw new WqError('selection', `--rename-conflicting: '${name}' cannot be renamed ('${to}': ${problem}).`);
    taken.add(to);
    renames[name] = to;
  }
  return renames;
}

/**
 * The restore target with the renames applied: each renamed qube under its new name, references
 * among the restored qubes following the renames, device assignments dropped from the copies
 * (two qubes would claim one device), notes and session volumes under the new names.
 */
export function applyRenames(
  input: { source: ArchivedRestoreSource; sessionVolumes: Readonly<Record<string, SessionVolumes>> },
  renames: Readonly<Record<string, string>>,
  request: { qubes: readonly string[]; selected: readonly string[] },
): RenamedSource {
  const selected = new Set(request.selected);
  const rename = (n: string): string => renames[n] ?? n;
  const qubes = input.source.system.qubes.map((q) => {
    if (!selected.has(q.name)) return q;
    const properties = { ...q.properties };
    for (const prop of REFERENCE_PROPERTIES) {
      const ref = properties[prop];
      if (ref !== undefined && selected.has(ref)) properties[prop] = rename(ref);
    }
    const renamed = renames[q.name] !== undefined;
    return { ...q, name: rename(q.name), properties, ...(renamed ? { devices: [] } : {}) };
  });
  const notes: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.source.notes)) notes[selected.has(k) ? rename(k) : k] = v;
  const sessionVolumes: Record<string, SessionVolumes> = {};
  for (const [k, v] of Object.entries(input.sessionVolumes)) sessionVolumes[selected.has(k) ? rename(k) : k] = v;
  return {
    source: { system: { ...input.source.system, qubes }, notes },
    sessionVolumes,
    qubes: request.qubes.map(rename),
    renames: { ...renames },
  };
}

/** The whole renaming step of a restore: select, choose the new names, rewrite the target. */
export function renameForRestore(input: {
  source: ArchivedRestoreSource;
  sessionVolumes: Readonly<Record<string, SessionVolumes>>;
  live: readonly LiveQube[];
  request: RestoreRequest;
  as?: string | undefined;
  renameConflicting: boolean;
}): RenamedSource {
  const { source, sessionVolumes, request } = input;
  const { selected } = selectRestoreQubes({ archived: source.system, sessionVolumes, request });
  const renames = planRenames(
    { qubes: request.qubes, as: input.as, renameConflicting: input.renameConflicting, selected },
    source.system.qubes,
    input.live,
  );
  return applyRenames({ source, sessionVolumes }, renames, { qubes: request.qubes, selected });
}

/** One line per renamed qube, for the plan. */
export function renderRenames(renames: Readonly<Record<string, string>>): string {
  const lines = Object.entries(renames).map(([from, to]) => `  ${from} → ${to}`);
  return lines.length === 0 ? '' : `\nRestored under new names (the live qubes are not touched):\n${lines.join('\n')}`;
}
