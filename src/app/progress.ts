import { formatProgressLine, VolumeProgress, type ProgressSnapshot, type ProgressVolume } from '../core/progress.ts';
import type { ArchiveModel } from '../core/archive.ts';
import type { BackupVolume, QubeVolumesForBackup } from '../core/backup/plan.ts';
import type { CommonOptions } from '../core/options.ts';
import type { AppIo } from './ports.ts';

/** What progress reporting needs of the run (an AppContext is one). */
export interface ProgressContext {
  options: Pick<CommonOptions, 'json' | 'progress'>;
  io: Pick<AppIo, 'stderr' | 'stderrIsTTY'>;
}

/** One `--progress=json` event (README "Progress"): one JSON line on stderr with its time. */
export type ProgressEvent = Record<string, string | number | boolean | null | string[]>;

export function progress(ctx: ProgressContext, event: ProgressEvent): void {
  if (ctx.options.progress === 'json')
    ctx.io.stderr(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

/** What one Wyng run over a list of volumes reports to (send, receive, verify). */
export interface VolumeProgressHooks {
  /** Wyng starts a volume */
  onVolume: ((name: string) => void) | undefined;
  /** Wyng's percent of the current volume */
  onPercent: ((percent: number) => void) | undefined;
  /** whether Wyng's own output is passed through (not under `--json --progress=json`: stderr is JSON lines then) */
  passthrough: boolean;
  /** the run ended: the final figures (a `bytes` event with bytesDone = bytesTotal, or the terminal's last line) */
  finish: () => void;
}

/** The byte figures of a snapshot, as `--progress=json` events carry them. */
function figures(s: ProgressSnapshot): ProgressEvent {
  return { bytesDone: s.bytesDone, bytesTotal: s.bytesTotal, rate: s.rate, etaSeconds: s.etaSeconds };
}

/** At most one `bytes` event per this many ms inside a volume. */
const BYTES_EVENT_MS = 1000;

/**
 * The progress of one Wyng run over `volumes` (with their sizes, when known): `volume` events and
 * `bytes` events under `--progress=json`; on a terminal (stderr) one line per volume with the MiB
 * done, the rate and the time left (Wyng's own bar shows each volume's percent); nothing otherwise.
 */
export function volumeProgress(
  ctx: ProgressContext,
  volumes: readonly ProgressVolume[],
  now: () => number = Date.now,
): VolumeProgressHooks {
  const passthrough = !(ctx.options.json && ctx.options.progress === 'json');
  const tracker = new VolumeProgress(volumes, now());
  if (ctx.options.progress === 'json') {
    let lastEvent = Number.NEGATIVE_INFINITY;
    let lastBytes = -1;
    return {
      onVolume: (name) => {
        const s = tracker.start(name, now());
        lastEvent = now();
        lastBytes = s.bytesDone;
        progress(ctx, { event: 'volume', name, index: s.index, total: s.total, ...figures(s) });
      },
      onPercent: (pct) => {
        const t = now();
        const s = tracker.percent(pct, t);
        if (s === undefined || s.bytesDone === lastBytes || t - lastEvent < BYTES_EVENT_MS) return;
        lastEvent = t;
        lastBytes = s.bytesDone;
        progress(ctx, { event: 'bytes', index: s.index, total: s.total, ...figures(s) });
      },
      finish: () => {
        const s = tracker.finish(now());
        progress(ctx, { event: 'bytes', index: s.index, total: s.total, ...figures(s) });
      },
      passthrough,
    };
  }
  if (ctx.io.stderrIsTTY !== true) return { onVolume: undefined, onPercent: undefined, passthrough, finish: () => {} };
  return {
    onVolume: (name) => ctx.io.stderr(`\n${formatProgressLine(tracker.start(name, now()))}\n`),
    onPercent: (pct) => void tracker.percent(pct, now()),
    finish: () => ctx.io.stderr(`\n${formatProgressLine(tracker.finish(now()))}\n`),
    passthrough,
  };
}

/** The volumes of a receive (pool path → [archive name, local name]) with their sizes in the session. */
export function receivedVolumes(
  map: ReadonlyMap<string, ReadonlyArray<readonly [string, string]>>,
  session: string,
  sizes: ArchiveModel['volumeSizes'],
): ProgressVolume[] {
  return [...map.values()].flat().map(([name]) => ({ name, bytes: sizes[name]?.[session] }));
}

/**
 * The volumes of a send with their sizes: the imported files (metadata, dom0 home) and each qube
 * volume's size (the Admin API's `size`, the span Wyng's scan and percent run over; a volume
 * without it counts as 0).
 */
export function sendVolumes(
  volumes: readonly BackupVolume[],
  qubes: readonly QubeVolumesForBackup[],
  imports: readonly ProgressVolume[],
): ProgressVolume[] {
  const byName = new Map(qubes.map((q) => [q.name, q]));
  return [...imports, ...volumes.map((v) => ({ name: v.archive, bytes: byName.get(v.qube)?.volumes[v.kind]?.size }))];
}
