import {
  lvmVolumeName,
  METADATA_VOLUME as METADATA_VOLUME_NAME,
  reflinkVolumeName,
  type LocalFromMap,
  type VolumeKind,
} from '../archive.ts';
import type { PoolInfo } from '../qubesapi/parse.ts';

/**
 * Backup planning, pure over data read from the Admin API and the archive
 * (docs/design.md "Backup").
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
    if (name === 'dom0' || byName.get(name)?.klass === 'AdminVM')
      skipped.push({ name, reason: 'dom0 is not backed up' });
    else if (!byName.has(name)) skipped.push({ name, reason: 'no such qube' });
    else if (excluded.has(name)) skipped.push({ name, reason: 'excluded' });
    else selected.push(name);
  }
  return { selected, skipped };
}

/** A local storage pool as Wyng addresses it (the Admin API's record of it: qubesapi/parse.ts PoolInfo). */
export type WyngPool =
  | { name: string; driver: 'lvm_thin'; volumeGroup: string; thinPool: string }
  | { name: string; driver: 'file-reflink'; dirPath: string }
  | { name: string; driver: string };

/** The Admin API pool record as Wyng addresses the pool. */
export function wyngPoolOf(p: PoolInfo): WyngPool {
  if (p.driver === 'lvm_thin' && p.config.volume_group && p.config.thin_pool) {
    return { name: p.name, driver: 'lvm_thin', volumeGroup: p.config.volume_group, thinPool: p.config.thin_pool };
  }
  if (p.driver === 'file-reflink' && p.config.dir_path)
    return { name: p.name, driver: 'file-reflink', dirPath: p.config.dir_path };
  return { name: p.name, driver: p.driver };
}

/** Where a qube's volume lives: its pool and its id there (the Admin API's full record: VolumeInfo). */
export interface VolumeRef {
  pool: string;
  vid: string;
  /** bytes the volume uses in its pool (the Admin API's `usage`), when known */
  usage?: number;
  /** the volume's size (the Admin API's `size`): what a send's progress runs over, when known */
  size?: number;
}

export interface QubeVolumesForBackup {
  name: string;
  klass: string;
  volumes: Partial<Record<VolumeKind, VolumeRef>>;
}

/** Which volumes a qube of this class backs up: private always, root for templates/standalones. */
export function volumeKindsFor(klass: string): VolumeKind[] {
  if (klass === 'DispVM' || klass === 'AdminVM') return [];
  return klass === 'TemplateVM' || klass === 'StandaloneVM' ? ['private', 'root'] : ['private'];
}

/** The path Wyng knows a pool by: `VG/THINPOOL` (lvm_thin) or `dir_path` (file-reflink). */
export function poolPath(pool: WyngPool): string | undefined {
  if (pool.driver === 'lvm_thin' && 'volumeGroup' in pool) return `${pool.volumeGroup}/${pool.thinPool}`;
  if (pool.driver === 'file-reflink' && 'dirPath' in pool) return pool.dirPath;
  return undefined;
}

/** The local volume name Wyng reads: `vm-NAME-KIND` (LVM) or `VID.img` (reflink). */
export function localVolumeName(qube: string, kind: VolumeKind, pool: WyngPool, vid: string): string | undefined {
  if (pool.driver === 'lvm_thin') return lvmVolumeName(qube, kind);
  if (pool.driver === 'file-reflink') return `${vid}.img`;
  return undefined;
}

/** The same volume's name in the other pool format (for auto-rename). */
export function otherFormatName(
  qube: string,
  kind: VolumeKind,
  driver: string,
  isTemplate: boolean,
): string | undefined {
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
  pools: ReadonlyMap<string, WyngPool>,
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
        skipped.push({
          qube: q.name,
          kind,
          reason: `pool '${info.pool}' (${pool?.driver ?? 'unknown'}) is not lvm_thin or file-reflink`,
        });
        continue;
      }
      const other = otherFormatName(q.name, kind, pool.driver, q.klass === 'TemplateVM');
      const rename = !noAutoRename && !archiveVolumes.has(local) && other !== undefined && archiveVolumes.has(other);
      const archive = rename ? other : local;
      volumes.push({
        qube: q.name,
        kind,
        pool: info.pool,
        poolPath: path,
        archive,
        local,
        ...(rename ? { renamedFrom: other } : {}),
      });
      (localFrom[path] ??= []).push([archive, local]);
    }
  }
  return { volumes, localFrom, skipped };
}

export interface SendOutcomeInput {
  volumes: readonly BackupVolume[];
  /** sessions of the metadata volume before the send */
  metadataBefore: readonly string[];
  /** volume → its sessions after the send (the archive re-read); undefined when it could not be read */
  after: Readonly<Record<string, readonly string[]>> | undefined;
  /** the session id the send printed */
  printedSession: string | undefined;
  /** volumes of Wyng's `.error` file (exit 2) */
  errorFile: readonly string[];
  /** paths of `Warning: Local 'P' does not exist!` */
  missingLocal: readonly string[];
  exitCode: number;
}

export interface VolumeOutcome {
  volume: BackupVolume;
  /** the volume's name in the archive now (an auto-renamed volume has its local name) */
  name: string;
  /** why it is not in the new session; undefined when it is */
  failure?: string;
}

export interface SendOutcome {
  session: string | undefined;
  /** the new session holds `wyng-qubes-metadata` (else it is no Qubes session) */
  metadataStored: boolean;
  volumes: VolumeOutcome[];
}

/**
 * What a send really stored. The archive as re-read after the send is the truth: Wyng's exit
 * code 2 overrides an interrupt or a fatal error (its `.error` file then lists only the volumes
 * that failed before, not the ones never sent), an exit-0 run may have skipped missing local
 * volumes, and a pool that cannot snapshot drops the metadata import without a word
 * (docs/design.md "Wyng contract"). Without the re-read, Wyng's own reports are all there is.
 */
export function settleSend(input: SendOutcomeInput): SendOutcome {
  const errored = new Set(input.errorFile);
  const missing = (v: BackupVolume): string | undefined =>
    input.missingLocal.find((p) => p === `${v.poolPath.replace(/\/+$/, '')}/${v.local}` || p.endsWith(`/${v.local}`));
  const reported = (v: BackupVolume): string | undefined => {
    if (errored.has(v.local) || errored.has(v.archive))
      return `Wyng reported an error sending ${errored.has(v.local) ? v.local : v.archive}`;
    const path = missing(v);
    if (path !== undefined) return `the local volume ${path} does not exist`;
    return undefined;
  };
  const after = input.after;
  if (after === undefined) {
    return {
      session: input.printedSession,
      metadataStored: !errored.has(METADATA_VOLUME_NAME) && input.printedSession !== undefined,
      volumes: input.volumes.map((v) => {
        const failure = reported(v);
        return { volume: v, name: v.local, ...(failure !== undefined ? { failure } : {}) };
      }),
    };
  }
  const before = new Set(input.metadataBefore);
  const newMeta = (after[METADATA_VOLUME_NAME] ?? []).filter((s) => !before.has(s));
  const session = newMeta[newMeta.length - 1] ?? input.printedSession;
  const ended = input.exitCode !== 0 ? ` (Wyng ended with exit ${input.exitCode})` : '';
  return {
    session,
    metadataStored: newMeta.length > 0,
    volumes: input.volumes.map((v) => {
      const names = [v.local, v.archive].filter((n) => after[n] !== undefined);
      const inSession = session !== undefined ? names.find((n) => after[n]!.includes(session)) : undefined;
      const name = inSession ?? names[0] ?? v.local;
      if (inSession !== undefined) return { volume: v, name };
      const failure =
        reported(v) ??
        (session !== undefined
          ? `${name} was not stored in session ${session}${ended}`
          : `Wyng stored no session${ended}`);
      return { volume: v, name, failure };
    }),
  };
}

/** Session id of a local time, as Wyng names sessions (YYYYMMDD-HHMMSS, local time zone). */
export function sessionIdAt(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const day = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}`;
  return `${day}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/**
 * Waits until the clock's session id is past the archive's newest session (Wyng names a session by the
 * second its send starts; a second send in that second crashes with "Duplicate session name"): after a job
 * queued on the lock, the previous send may have named its session this very second. Bounded by `maxMs`
 * (a clock set back, or a session from a machine ahead of ours, must not stall the backup); returns the ms
 * waited.
 */
export async function waitPastSession(
  newest: string | undefined,
  clock: { now(): Date; sleep(ms: number): Promise<void> },
  maxMs = 3000,
): Promise<number> {
  let waited = 0;
  while (newest !== undefined && sessionIdAt(clock.now()) <= newest && waited < maxMs) {
    const ms = 1000 - (clock.now().getMilliseconds() % 1000) + 10;
    await clock.sleep(ms);
    waited += ms;
  }
  return waited;
}
