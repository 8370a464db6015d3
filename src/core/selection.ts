import { METADATA_VOLUME, qubesSessionsOf, type ArchiveModel } from './archive.ts';
import { WqError } from './errors.ts';

/**
 * Session selection for restore/verify (docs/design.md "Restore algorithm"): `--session`, else the newest
 * session of the named qubes; differing newest sessions are ambiguous.
 */
export function selectSession(
  model: ArchiveModel,
  qubes: readonly string[],
  session: string | undefined,
  verb: string,
): string {
  if (session !== undefined) {
    if (!/^\d{8}-\d{6}$/.test(session))
      throw new WqError('selection', `--session must name one session (YYYYMMDD-HHMMSS) for ${verb}.`);
    if (!model.qubesSessions.includes(session)) throw new WqError('selection', `No sessions match ${session}.`);
    return session;
  }
  if (qubes.length === 0) throw new WqError('selection', `Please specify either a --session or qube names to ${verb}.`);
  const newest = new Set<string>();
  const perQube: string[] = [];
  let common: Set<string> | undefined;
  for (const q of qubes) {
    const sessions = qubesSessionsOf(model, q);
    const last = sessions[sessions.length - 1];
    if (last !== undefined) {
      newest.add(last);
      perQube.push(`${q} ${last}`);
    }
    common = new Set(sessions.filter((s) => common === undefined || common.has(s)));
  }
  if (newest.size === 0) throw new WqError('selection', `No Qubes backup sessions for: ${qubes.join(', ')}.`);
  if (newest.size > 1) {
    // the newest session of each named qube, and the newest session that holds them all (if any)
    const shared = [...(common ?? [])].sort().pop();
    throw new WqError(
      'selection',
      'Ambiguous VM session selection. Please use --session to choose a date-time. ' +
        `Newest sessions: ${perQube.join(', ')}. ` +
        (shared !== undefined
          ? `The newest session holding all of them: --session=${shared}.`
          : 'No session holds all of them: restore them one --session at a time.'),
    );
  }
  return [...newest][0]!;
}

/** Every archive volume of these qubes, in any session (prune, delete). */
export function volumesOfQubes(model: ArchiveModel, qubes: readonly string[]): string[] {
  const wanted = new Set(qubes);
  return Object.keys(model.volumeQube)
    .filter((v) => wanted.has(model.volumeQube[v]!))
    .sort();
}

/** The volumes of these qubes in one session (verify, restore). */
export function volumesInSession(model: ArchiveModel, qubes: readonly string[], session: string): string[] {
  const out: string[] = [];
  for (const q of qubes) out.push(...(model.qubeSessions[q]?.[session]?.all ?? []));
  return [...new Set(out)].sort();
}

/** Qubes that have a volume in the session (the session must hold metadata). */
export function qubesInSession(model: ArchiveModel, session: string): string[] {
  return model.sessionQubes[session] ?? [];
}

export { METADATA_VOLUME };

/**
 * Wyng exits 0 when asked to prune a session that does not exist (docs/design.md "Wyng contract"), so the
 * selection is checked against the archive first.
 */
export function checkPruneSession(model: ArchiveModel, session: string, volumes: readonly string[] | undefined): void {
  const pool = volumes === undefined ? Object.keys(model.volumeSessions) : volumes;
  const sessions = new Set(pool.flatMap((v) => model.volumeSessions[v] ?? []));
  const [from, to] = session.split(',') as [string, string | undefined];
  const matches = to === undefined ? sessions.has(from) : [...sessions].some((s) => s >= from && s <= to);
  if (!matches) throw new WqError('selection', `No sessions match ${session}.`);
}

/** What a restore or verify request says about its qubes. */
export interface ArchivedQubesRequest {
  /** named qubes; none = every available qube */
  qubes: readonly string[];
  exclude: readonly string[];
  includeDisposable: boolean;
}

/** A qube a run of one session can touch; `disposable`: an archived DispVM (it has no volumes). */
export interface AvailableQube {
  name: string;
  disposable: boolean;
}

/**
 * The one rule for "the archived qubes this run touches" (restore and verify). Named qubes: each
 * available one, once, in the order named, unless excluded; the others are `notMatched` (sorted).
 * No names: every available qube that is not excluded, disposables only with includeDisposable.
 * dom0 is never available.
 */
export function selectArchivedQubes(
  available: readonly AvailableQube[],
  request: ArchivedQubesRequest,
): { selected: string[]; notMatched: string[] } {
  const candidates = available.filter((q) => q.name !== 'dom0');
  const names = new Set(candidates.map((q) => q.name));
  const excluded = new Set(request.exclude);
  if (request.qubes.length > 0) {
    const named = [...new Set(request.qubes)];
    return {
      selected: named.filter((q) => names.has(q) && !excluded.has(q)),
      notMatched: named.filter((q) => !names.has(q)).sort(),
    };
  }
  const selected = [
    ...new Set(candidates.filter((q) => request.includeDisposable || !q.disposable).map((q) => q.name)),
  ];
  return { selected: selected.filter((q) => !excluded.has(q)), notMatched: [] };
}
