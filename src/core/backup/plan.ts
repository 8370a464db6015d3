import { lvmVolumeName, reflinkVolumeName, type VolumeKind } from '../archive.ts';
import type { LocalFromMap } from '../wyng-argv.ts';

/**
 * Backup planning, pure over data read from the Admin API and the archive
 * (SPEC.md "backup", "Volume naming and pools").
 */
export interface LiveQubeForBackup {
  name: string;
  klass: string;
  includeInBackups: boolean;
}

export interface BackupSelection {
  selected: string[];
  skipped: Array<{ name: string; reason: string }>;
}

/** named ∪ (include_in_backups when -i) − --exclude, sorted, unique; dom0/unknown skipped. */
export function selectForBackup(
  live: readonly LiveQubeForBackup[],
  named: readonly string[],
  includes: boolean,
  exclude: readonly string[],
): BackupSelection {
  const byName = new Map(live.map((q) => [q.name, q]));
  const excluded = new Set(exclude);
  const wanted = new Set<string>(named);
  if (includes) for (const q of live) if (q.includeInBackups && !excluded.has(q.name)) wanted.add(q.name);
  const skipped: BackupSelection['skipped'] = [];
  const selected: string[] = [];
  for (const name of [...wanted].sort()) {
    if (name === 'dom0' || byName.get(name)?.klass === 'AdminVM') skipped.push({ name, reason: 'dom0 is not backed up' });
    else if (!byName.has(name)) skipped.push({ name, reason: 'no such qube' });
    else if (excluded.has(name)) skipped.push({ name, reason: 'excluded' });
    else selected.push(name);
  }
  return { selected, skipped };
}

export type PoolInfo =
  | { name: string; driver: 'lvm_thin'; volumeGroup: string; thinPool: string }
  | { name: string; driver: 'file-reflink'; dirPath: string }
  | { name: string; driver: string };

export interface VolumeInfo {
  pool: string;
  vid: string;
}

export interface QubeVolumesForBackup {
  name: string;
  klass: string;
  volumes: Partial<Record<VolumeKind, VolumeInfo>>;
}

/** Which volumes a qube of this class backs up: private always, root for templates/standalones. */
export function volumeKindsFor(klass: string): VolumeKind[] {
  if (klass === 'DispVM' || klass === 'AdminVM') return [];
  return klass === 'TemplateVM' || klass === 'StandaloneVM' ? ['private', 'root'] : ['private'];
}

/** The path Wyng knows a pool by: `VG/THINPOOL` (lvm_thin) or `dir_path` (file-reflink). */
export function poolPath(pool: PoolInfo): string | undefined {
  if (pool.driver === 'lvm_thin' && 'volumeGroup' in pool) return `${pool.volumeGroup}/${pool.thinPool}`;
  if (pool.driver === 'file-reflink' && 'dirPath' in pool) return pool.dirPath;
  return undefined;
}

/** The local volume name Wyng reads: `vm-NAME-KIND` (LVM) or `VID.img` (reflink). */
export function localVolumeName(qube: string, kind: VolumeKind, pool: PoolInfo, vid: string): string | undefined {
  if (pool.driver === 'lvm_thin') return lvmVolumeName(qube, kind);
  if (pool.driver === 'file-reflink') return `${vid}.img`;
  return undefined;
}

/** The same volume's name in the other pool format (for auto-rename). */
export function otherFormatName(qube: string, kind: VolumeKind, driver: string, isTemplate: boolean): string | undefined {
  if (driver === 'lvm_thin') return reflinkVolumeName(qube, kind, isTemplate);
  if (driver === 'file-reflink') return lvmVolumeName(qube, kind);
  return undefined;
}

export interface BackupVolume {
  qube: string;
  kind: VolumeKind;
  pool: string;
  poolPath: string;
  /** Name in the archive (differs from `local` when auto-renamed). */
  archive: string;
  local: string;
  renamedFrom?: string;
}

export interface BackupVolumePlan {
  volumes: BackupVolume[];
  localFrom: LocalFromMap;
  skipped: Array<{ qube: string; kind: VolumeKind; reason: string }>;
}

export function planBackupVolumes(
  qubes: readonly QubeVolumesForBackup[],
  pools: ReadonlyMap<string, PoolInfo>,
  archiveVolumes: ReadonlySet<string>,
  noAutoRename: boolean,
): BackupVolumePlan {
  const volumes: BackupVolume[] = [];
  const skipped: BackupVolumePlan['skipped'] = [];
  const localFrom: LocalFromMap = {};
  for (const q of qubes) {
    for (const kind of volumeKindsFor(q.klass)) {
      const info = q.volumes[kind];
      if (info === undefined) {
        skipped.push({ qube: q.name, kind, reason: `has no ${kind} volume` });
        continue;
      }
      const pool = pools.get(info.pool);
      const path = pool === undefined ? undefined : poolPath(pool);
      const local = pool === undefined ? undefined : localVolumeName(q.name, kind, pool, info.vid);
      if (pool === undefined || path === undefined || local === undefined) {
        skipped.push({ qube: q.name, kind, reason: `pool '${info.pool}' (${pool?.driver ?? 'unknown'}) is not lvm_thin or file-reflink` });
        continue;
      }
      const other = otherFormatName(q.name, kind, pool.driver, q.klass === 'TemplateVM');
      const rename = !noAutoRename && !archiveVolumes.has(local) && other !== undefined && archiveVolumes.has(other);
      const archive = rename ? other : local;
      volumes.push({ qube: q.name, kind, pool: info.pool, poolPath: path, archive, local, ...(rename ? { renamedFrom: other } : {}) });
      (localFrom[path] ??= []).push([archive, local]);
    }
  }
  return { volumes, localFrom, skipped };
}

/** `Sending backup session S:` in Wyng's send output. */
export function sessionFromSendOutput(stdout: string): string | undefined {
  return /Sending backup session (\d{8}-\d{6}):/.exec(stdout)?.[1];
}

/** `N volumes, A——>B MB in S seconds.` */
export function sentMegabytes(stdout: string): number | undefined {
  const m = /(\d+) volumes, ([\d.]+)\u2014\u2014>([\d.]+) MB in/.exec(stdout);
  return m === null ? undefined : Number(m[3]);
}

/** Session id of a local time, as Wyng names sessions (YYYYMMDD-HHMMSS, local time zone). */
export function sessionIdAt(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}
