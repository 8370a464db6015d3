// What an interrupted backup or restore leaves behind, and the command that finishes the job (issue 16 §5).
import { METADATA_VOLUME } from './archive.ts';

export interface InterruptedBackup {
  /** the session the interrupted send already wrote (with the Qubes metadata), or null */
  session: string | null;
  /** qubes whose every volume is in that session: it is now their newest */
  complete: string[];
  /** qubes to back up again */
  remaining: string[];
  /** false when the archive could not be re-read after the interrupt */
  known: boolean;
}

/** Compares the archive before and after an interrupted send (volume → session ids). Pure. */
export function interruptedBackup(input: {
  before: Record<string, string[]>;
  after: Record<string, string[]> | undefined;
  volumes: ReadonlyArray<{ qube: string; archive: string; local: string }>;
  selected: readonly string[];
}): InterruptedBackup {
  const { before, after, volumes, selected } = input;
  if (after === undefined) return { session: null, complete: [], remaining: [...selected], known: false };
  const old = new Set(before[METADATA_VOLUME] ?? []);
  const fresh = (after[METADATA_VOLUME] ?? []).filter((s) => !old.has(s)).sort();
  const session = fresh[fresh.length - 1] ?? null;
  if (session === null) return { session: null, complete: [], remaining: [...selected], known: true };
  const stored = (v: { archive: string; local: string }): boolean =>
    [v.archive, v.local].some((n) => after[n]?.includes(session) === true);
  const complete = selected.filter((q) => {
    const own = volumes.filter((v) => v.qube === q);
    return own.length > 0 && own.every(stored);
  });
  return { session, complete, remaining: selected.filter((q) => !complete.includes(q)), known: true };
}

/** The lines an interrupted backup prints (stderr). */
export function interruptedBackupLines(state: InterruptedBackup, finish: string): string[] {
  const total = state.complete.length + state.remaining.length;
  if (!state.known) {
    return [
      '\nInterrupted: the archive could not be re-read, so which qubes were stored is not known.',
      `Check with 'wyng-qubes list', then back up again: ${finish}`,
    ];
  }
  if (state.session === null) {
    return ['\nInterrupted: no session was written; nothing changed in the archive.', `To back up: ${finish}`];
  }
  const lines = [
    `\nInterrupted: session ${state.session} was already written with ${state.complete.length} of ${total} ` +
      `qube(s)${state.complete.length > 0 ? ` (${state.complete.join(', ')}); it is now their newest session` : ''}.`,
  ];
  if (state.remaining.length > 0) lines.push(`Not backed up: ${state.remaining.join(', ')}. To finish: ${finish}`);
  return lines;
}
