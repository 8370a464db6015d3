// What `--dry-run` previews for the commands that remove data (delete, prune): pure, from Wyng's list.
import type { ArchiveModel } from './archive.ts';
import type { CommandName } from './options.ts';

/** Commands that honour `--dry-run`; every other command refuses it (exit 9). */
export const DRY_RUN_COMMANDS: ReadonlySet<CommandName> = new Set(['backup', 'create', 'delete', 'prune', 'restore']);

/** One archive volume a dry run would remove sessions of (bytes: Wyng's `volsize` of each session). */
export interface RemovalPreview {
  volume: string;
  qube: string | null;
  sessions: Array<{ id: string; bytes: number }>;
  bytes: number;
}

function preview(model: ArchiveModel, volume: string, sessions: readonly string[]): RemovalPreview {
  const sizes = model.volumeSizes[volume] ?? {};
  const rows = sessions.map((id) => ({ id, bytes: sizes[id] ?? 0 }));
  return {
    volume,
    qube: model.volumeQube[volume] ?? null,
    sessions: rows,
    bytes: rows.reduce((sum, r) => sum + r.bytes, 0),
  };
}

/** `delete QUBE`: every session of each of its volumes. */
export function deletePreview(model: ArchiveModel, volumes: readonly string[]): RemovalPreview[] {
  return volumes.map((v) => preview(model, v, model.volumeSessions[v] ?? []));
}

/**
 * `prune --session S | S1,S2 [--all-before]`: the sessions Wyng 0.8's prune_sessions picks per volume —
 * one session, or the sessions in the range (S2 included, excluded with --all-before, which starts at the
 * oldest); a volume with fewer than two sessions is left alone and its newest session is always kept.
 */
export function prunePreview(
  model: ArchiveModel,
  volumes: readonly string[],
  session: string,
  allBefore: boolean,
): RemovalPreview[] {
  const out: RemovalPreview[] = [];
  for (const volume of volumes) {
    const names = model.volumeSessions[volume] ?? [];
    if (names.length < 2) continue;
    const [first, second] = session.split(',') as [string, string | undefined];
    let picked: string[];
    if (allBefore) picked = names.filter((s) => s < first);
    else if (second === undefined) picked = names.includes(first) ? [first] : [];
    else picked = names.filter((s) => s >= first && s <= second);
    if (picked.length > 0 && picked[picked.length - 1] === names[names.length - 1]) picked = picked.slice(0, -1);
    if (picked.length > 0) out.push(preview(model, volume, picked));
  }
  return out;
}

/** Human lines of a removal preview: `  volume  session  size`. */
export function removalLines(rows: readonly RemovalPreview[]): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(
      `  ${r.volume}${r.qube !== null ? ` (${r.qube})` : ''}: ${r.sessions.length} session(s), ${mib(r.bytes)}`,
    );
    for (const s of r.sessions) lines.push(`    ${s.id}  ${mib(s.bytes)}`);
  }
  return lines;
}

/** Bytes as MiB with one decimal (sizes in --json stay exact bytes). */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** One volume a backup would send, for `backup --dry-run`. */
export interface BackupVolumePreview {
  qube: string;
  volume: string;
  pool: string;
  /** bytes the local volume uses in its pool (Admin API `usage`); null when unknown */
  bytes: number | null;
  /** the archive already has sessions of it: Wyng sends only the chunks changed since its newest one */
  incremental: boolean;
}

/**
 * The estimate `backup --dry-run` gives (README "Dry runs"): a volume new to the archive is sent whole — at
 * most the bytes it uses in its pool, before Wyng's compression and deduplication; a volume the archive
 * already has is sent incrementally, which only Wyng's own scan of the snapshot can measure (Wyng 0.8's
 * `send --dry-run` still takes snapshots, so a dry run does not run it): at most its used bytes.
 */
export function backupEstimate(volumes: readonly BackupVolumePreview[]): {
  method: string;
  firstSendBytes: number;
  incrementalVolumes: number;
  upperBoundBytes: number;
} {
  const bytes = (v: BackupVolumePreview): number => v.bytes ?? 0;
  return {
    method: 'new volumes: their used bytes in the pool; volumes already archived: changed chunks only (not measured)',
    firstSendBytes: volumes.filter((v) => !v.incremental).reduce((s, v) => s + bytes(v), 0),
    incrementalVolumes: volumes.filter((v) => v.incremental).length,
    upperBoundBytes: volumes.reduce((s, v) => s + bytes(v), 0),
  };
}
