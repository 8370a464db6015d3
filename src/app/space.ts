// Space pre-flight of a restore (issue 19 §3): the archived size of each volume a plan receives
// against the free space of the pool it lands in. The comparison is core/space.ts.
import { statSync } from 'node:fs';
import { freeBytesAt } from '../adapters/fs/space.ts';
import type { VolumeKind } from '../core/archive.ts';
import type { BackupVolume } from '../core/backup/plan.ts';
import { WqError } from '../core/errors.ts';
import type { RestorePlan } from '../core/restore/plan.ts';
import {
  backupNeed,
  compareSpace,
  localDestPath,
  renderSpace,
  restoreNeed,
  spaceRefusal,
  spaceWarning,
  type SpaceNeed,
  type TargetSpace,
} from '../core/space.ts';
import type { AppContext, QubesSystem } from './ports.ts';

/**
 * Per pool: what the plan's volumes need and what the pool has free. A created qube's volumes
 * go to `--pool`, else the system's default pool for that volume; an overwritten qube's stay in
 * their pool, and the space they already hold counts as theirs. An overwritten volume whose pool
 * qubesd's qubes.xml names counts first with its whole archived size (no Admin API call); only
 * in a pool that looks too small then is what it holds read (admin.vm.volume.Info) and deducted.
 */
export async function restoreSpace(
  live: QubesSystem,
  plan: RestorePlan,
  sizes: Readonly<Record<string, Readonly<Record<string, number>>>>,
  recorded: ReadonlyMap<string, number>,
  pool: string | null,
): Promise<TargetSpace[]> {
  const globals = await live.globalValues();
  const needs: Array<SpaceNeed & { replaces?: { qube: string; kind: VolumeKind; size: number } }> = [];
  for (const q of plan.qubes) {
    if (q.fails) continue;
    for (const v of q.volumes) {
      // the data the volume held at backup time (the session's volume record), else its listed size
      const data = recorded.get(v.archiveName);
      const size = data ?? sizes[v.archiveName]?.[plan.session] ?? 0;
      const measured = data !== undefined;
      const filePool = q.action === 'overwrite' ? live.volumePoolFromFile(q.name, v.kind) : undefined;
      if (filePool !== undefined) {
        needs.push({ target: filePool, bytes: size, measured, replaces: { qube: q.name, kind: v.kind, size } });
        continue;
      }
      const current = q.action === 'overwrite' ? await live.volumeUsage(q.name, v.kind) : undefined;
      const target = current?.pool ?? pool ?? globals[`default_pool_${v.kind}`] ?? globals.default_pool;
      if (target === undefined || target === '') continue;
      needs.push({ target, bytes: restoreNeed(size, current?.usage), measured });
    }
  }
  const free = new Map<string, number | undefined>();
  for (const target of new Set(needs.map((n) => n.target))) free.set(target, await live.poolFree(target));
  const short = new Set(compareSpace(needs, free).flatMap((r) => (r.short ? [r.target] : [])));
  for (const n of needs) {
    if (n.replaces === undefined || !short.has(n.target)) continue;
    const current = await live.volumeUsage(n.replaces.qube, n.replaces.kind);
    if (current !== undefined && current.pool === n.target) n.bytes = restoreNeed(n.replaces.size, current.usage);
  }
  return compareSpace(needs, free);
}

/**
 * The backup's pre-flight at a `file:` destination: what the send may add (core/space.ts
 * backupNeed) against the destination file system's free bytes. Shown; too little refuses the
 * backup (exit 5) before Wyng runs, unless --force. Other destinations: nothing to check here.
 */
export async function backupSpace(
  ctx: AppContext,
  live: QubesSystem,
  volumes: readonly BackupVolume[],
  archiveVolumes: ReadonlySet<string>,
  imports: readonly string[],
): Promise<TargetSpace[]> {
  const path = localDestPath(ctx.options.dest);
  if (path === undefined) return [];
  const usage = await Promise.all(
    volumes.map(async (v) => ({ archive: v.archive, usage: (await live.volumeUsage(v.qube, v.kind))?.usage })),
  );
  const importBytes = imports.reduce((sum, f) => sum + statSync(f).size, 0);
  const bytes = backupNeed({ volumes: usage, archiveVolumes, metadataBytes: importBytes });
  const rows = compareSpace([{ target: path, bytes, measured: true }], new Map([[path, freeBytesAt(path)]]));
  ctx.say(renderSpace('Space at the destination', rows));
  enforceSpace(ctx, 'backup', rows);
  return rows;
}

/**
 * Refuses (exit 5, before anything is written) when a target cannot fit the measured data, unless
 * --force (or --ignore-space); warns when only listed upper bounds exceed the free space.
 */
export function enforceSpace(ctx: AppContext, what: string, rows: readonly TargetSpace[]): void {
  const refusal = spaceRefusal(what, rows);
  if (refusal !== undefined && !ctx.options.ignoreSpace) throw new WqError('storage', refusal, { wyngCode: 5 });
  if (refusal !== undefined) ctx.warn(`Warning: ${refusal.replace(/ Nothing was written.*$/, '')} Going on (--force).`);
  const warning = spaceWarning(what, rows);
  if (warning !== undefined) ctx.warn(warning);
}
