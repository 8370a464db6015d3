// Pools and volumes backed by real files, in the file-reflink layout qubesd uses
// (`<pool dir>/appvms/NAME/private.img`, `<pool dir>/vm-templates/NAME/root.img`, `-dirty.img`
// while running, revisions `private.img.N@<iso time>Z`), so a fake Wyng can send and receive
// them. qubesd's system paths are mapped below the fake's root (poolsDir): the qubes.xml path
// `/var/lib/qubes` lives at `<root>/var/lib/qubes`.
//
// Simplifications (documented, not visible through the API): no `-precache.img` files; copies
// keep holes (a file without allocated blocks is recreated as an empty sparse file); the `file`
// driver is treated like `file-reflink`; other drivers (lvm_thin, zfs, …) keep their volume
// files under `<root>/pools/<pool>/<vid>.img`.
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
  truncateSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { qerr, drop } from './errors.ts';
import type { AppState, Pool, Qube, Volume } from './model.ts';
import { vmProp, NOVAL, kernelDir, QUBES_BASE_DIR } from './props.ts';

export const PRIVATE_IMG_SIZE = 2 * 1024 * 1024 * 1024;
export const ROOT_IMG_SIZE = 10 * 1024 * 1024 * 1024;

/** admin.pool.ListDrivers of qubes-core-admin 4.4.0 (driver, then its parameters). */
export const POOL_DRIVERS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['file', ['revisions_to_keep', 'dir_path', 'ephemeral_volatile']],
  ['file-reflink', ['revisions_to_keep', 'dir_path', 'setup_check', 'ephemeral_volatile']],
  ['linux-kernel', ['dir_path']],
  ['lvm_thin', ['revisions_to_keep', 'volume_group', 'thin_pool', 'ephemeral_volatile']],
  ['callback', ['conf_id']],
  ['zfs', ['revisions_to_keep', 'container', 'ephemeral_volatile', 'snap_on_start_forensics']],
];

export function isFilePool(pool: Pool): boolean {
  return pool.driver === 'file-reflink' || pool.driver === 'file';
}

/** The real directory for a qubes.xml path. */
export function realPath(app: AppState, seedPath: string): string {
  return join(app.root, posix.normalize(seedPath));
}

export function poolReportedDir(app: AppState, pool: Pool): string {
  const seed = pool.config.get('dir_path');
  if (seed === undefined) return '';
  return app.reportSeedPaths ? seed : pool.realDir;
}

/** pool.config as admin.pool.Info lists it (sorted keys). */
export function poolConfig(app: AppState, pool: Pool): Array<[string, string]> {
  const entries = new Map<string, string>(pool.config);
  entries.set('name', pool.name);
  entries.set('driver', pool.driver);
  if (entries.has('dir_path')) entries.set('dir_path', poolReportedDir(app, pool));
  if (isFilePool(pool)) {
    // qubesd's config property of the file drivers lists exactly these
    const keep = ['name', 'dir_path', 'driver', 'revisions_to_keep', 'ephemeral_volatile'];
    for (const k of [...entries.keys()]) if (!keep.includes(k)) entries.delete(k);
    if (!entries.has('revisions_to_keep')) entries.set('revisions_to_keep', '1');
    if (!entries.has('ephemeral_volatile')) entries.set('ephemeral_volatile', 'False');
  }
  return [...entries.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export function poolRevisionsToKeep(pool: Pool): number {
  if (pool.driver === 'linux-kernel') return 0;
  return Number(pool.config.get('revisions_to_keep') ?? '1');
}

export function poolUsage(pool: Pool): { size: number; usage: number } | undefined {
  if (!isFilePool(pool)) return undefined;
  try {
    const s = statfsSync(pool.realDir);
    return { size: s.bsize * s.blocks, usage: s.bsize * (s.blocks - s.bfree) };
  } catch {
    return undefined;
  }
}

/** Pool.included_in: the first other pool whose directory contains this pool's directory. */
export function poolIncludedIn(app: AppState, pool: Pool): string | undefined {
  if (pool.driver !== 'linux-kernel' && !isFilePool(pool)) return undefined;
  const mine = pool.config.get('dir_path');
  if (mine === undefined) return undefined;
  for (const other of app.pools.values()) {
    if (other === pool) continue;
    const theirs = other.config.get('dir_path');
    if (theirs === undefined) continue;
    const t = posix.normalize(theirs).replace(/\/$/, '');
    const m = posix.normalize(mine).replace(/\/$/, '');
    if (m === t || m.startsWith(`${t}/`)) return other.name;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// volume files

interface VolumeFiles {
  clean: string;
  dirty: string;
  importing: string;
}

export function poolOf(app: AppState, vol: Volume): Pool {
  const pool = app.pools.get(vol.pool);
  if (pool === undefined) throw qerr('QubesException', `Unknown storage pool ${vol.pool}`);
  return pool;
}

function volumeFiles(app: AppState, vol: Volume): VolumeFiles {
  const pool = poolOf(app, vol);
  const base = isFilePool(pool) ? join(pool.realDir, vol.vid) : join(app.root, 'pools', pool.name, vol.vid);
  return { clean: `${base}.img`, dirty: `${base}-dirty.img`, importing: `${base}-import.img` };
}

/** The real path of a volume's committed image (what Wyng reads and writes), or undefined. */
export function volumeImagePath(app: AppState, vol: Volume): string | undefined {
  const pool = poolOf(app, vol);
  if (pool.driver === 'linux-kernel') return undefined;
  return volumeFiles(app, vol).clean;
}

export function isKernelVolume(app: AppState, vol: Volume): boolean {
  return poolOf(app, vol).driver === 'linux-kernel';
}

/** The vid as qubesd reports it (kernel volumes: the qube's kernel). */
export function volumeVid(app: AppState, q: Qube, vol: Volume): string {
  if (isKernelVolume(app, vol)) {
    const k = vmProp(app, q, 'kernel');
    return k === NOVAL || k === null ? '' : k;
  }
  return vol.vid;
}

function fileStat(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

export function volumeSize(app: AppState, vol: Volume): number {
  if (isKernelVolume(app, vol)) return vol.size;
  const f = volumeFiles(app, vol);
  for (const p of [f.dirty, f.clean]) {
    const st = fileStat(p);
    if (st !== undefined) return Number(st.size);
  }
  return vol.size;
}

export function volumeUsage(app: AppState, vol: Volume): number {
  if (isKernelVolume(app, vol)) return 0;
  const f = volumeFiles(app, vol);
  for (const p of [f.dirty, f.clean]) {
    const st = fileStat(p);
    if (st !== undefined) return Number(st.blocks) * 512;
  }
  return 0;
}

export function volumeReportedPath(app: AppState, q: Qube, vol: Volume): string {
  const pool = poolOf(app, vol);
  if (pool.driver === 'linux-kernel') {
    const vid = volumeVid(app, q, vol);
    if (vid === '') return '';
    const dir = app.reportSeedPaths ? posix.join(pool.config.get('dir_path') ?? '', vid) : kernelDir(app, vid);
    return join(dir, 'modules.img');
  }
  if (pool.driver === 'lvm_thin') return `/dev/${vol.vid}`;
  const real = volumeFiles(app, vol).dirty;
  if (!app.reportSeedPaths || !isFilePool(pool)) return real;
  return posix.join(pool.config.get('dir_path') ?? '', `${vol.vid}-dirty.img`);
}

function findVolumeByVid(app: AppState, pool: string, vid: string): Volume | undefined {
  for (const q of app.qubes.values())
    for (const v of q.volumes.values()) if (v.pool === pool && v.vid === vid) return v;
  return undefined;
}

export function isOutdated(app: AppState, vol: Volume): boolean {
  if (!vol.snapOnStart || vol.source === null) return false;
  const src = findVolumeByVid(app, vol.pool, vol.source);
  if (src === undefined) return false;
  const a = fileStat(volumeFiles(app, src).clean);
  const b = fileStat(volumeFiles(app, vol).clean);
  if (a === undefined || b === undefined) return false;
  return !(a.ino === b.ino && a.dev === b.dev);
}

/** revisions as qubesd lists them: id → timestamp, sorted by id */
export function volumeRevisions(app: AppState, vol: Volume): Array<[string, string]> {
  if (isKernelVolume(app, vol)) return [];
  const clean = volumeFiles(app, vol).clean;
  const dir = dirname(clean);
  const prefix = `${basename(clean)}.`;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Array<[string, string]> = [];
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(.+)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z$/.exec(n.slice(prefix.length));
    if (m === null) continue;
    out.push([m[1] as string, m[2] as string]);
  }
  return out.sort((a, b) => Number(a[0]) - Number(b[0]));
}

function removeFile(path: string): void {
  rmSync(path, { force: true });
}

function createSparse(path: string, size: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w', 0o600);
  closeSync(fd);
  truncateSync(path, size);
}

/** Copies src to dst keeping holes; a file without allocated blocks becomes an empty sparse file. */
export function sparseCopy(src: string, dst: string, dstSize?: number): void {
  const st = statSync(src);
  const size = Number(st.size);
  mkdirSync(dirname(dst), { recursive: true });
  const tmp = `${dst}~copy`;
  const out = openSync(tmp, 'w', 0o600);
  try {
    if (Number(st.blocks) > 0) {
      const inp = openSync(src, 'r');
      try {
        const chunk = Buffer.alloc(1 << 20);
        let off = 0;
        while (off < size) {
          const n = readSync(inp, chunk, 0, chunk.length, off);
          if (n <= 0) break;
          let zero = true;
          for (let i = 0; i < n; i++) {
            if (chunk[i] !== 0) {
              zero = false;
              break;
            }
          }
          if (!zero) writeSync(out, chunk, 0, n, off);
          off += n;
        }
      } finally {
        closeSync(inp);
      }
    }
  } finally {
    closeSync(out);
  }
  truncateSync(tmp, dstSize ?? size);
  renameSync(tmp, dst);
}

function isodate(mtimeMs: number): string {
  return new Date(Math.floor(mtimeMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
}

function newFileSize(app: AppState, nominal: number): number {
  return app.volumeFileSize === 'declared' ? nominal : Math.min(nominal, app.volumeFileSize);
}

/** Volume.create() of file-reflink: only save_on_stop origin volumes get a (sparse) image. */
export function createVolume(app: AppState, vol: Volume): void {
  if (isKernelVolume(app, vol)) return;
  removeVolumeImages(app, vol);
  if (vol.saveOnStop && !vol.snapOnStart) createSparse(volumeFiles(app, vol).clean, newFileSize(app, vol.size));
}

/** Makes sure a seeded volume's image exists (a halted qube's origin volume has its .img). */
export function ensureSeededVolume(app: AppState, vol: Volume): void {
  if (isKernelVolume(app, vol)) return;
  const f = volumeFiles(app, vol);
  if (vol.saveOnStop && !vol.snapOnStart && !existsSync(f.clean)) createSparse(f.clean, newFileSize(app, vol.size));
}

function removeVolumeImages(app: AppState, vol: Volume): void {
  const f = volumeFiles(app, vol);
  for (const [rev, ts] of volumeRevisions(app, vol)) removeFile(`${f.clean}.${rev}@${ts}Z`);
  removeFile(f.importing);
  removeFile(f.clean);
  removeFile(f.dirty);
}

export function removeVolume(app: AppState, vol: Volume): void {
  if (isKernelVolume(app, vol)) return;
  removeVolumeImages(app, vol);
  try {
    rmdirSync(dirname(volumeFiles(app, vol).clean));
  } catch {
    // not empty or gone: like qubesd's _remove_empty_dir
  }
}

/** storage.verify(): the images a start needs exist. */
export function verifyVolumes(app: AppState, q: Qube): void {
  for (const vol of q.volumes.values()) {
    if (isKernelVolume(app, vol)) {
      const vid = volumeVid(app, q, vol);
      if (vid !== '' && !existsSync(join(kernelDir(app, vid), 'vmlinuz'))) {
        throw qerr('StoragePoolException', `Missing file: ${join(kernelDir(app, vid), 'vmlinuz')}`);
      }
      continue;
    }
    let img: string | undefined;
    if (vol.snapOnStart) {
      const src = vol.source === null ? undefined : findVolumeByVid(app, vol.pool, vol.source);
      img = src === undefined ? undefined : volumeFiles(app, src).clean;
      if (src === undefined) throw qerr('StoragePoolException', `Missing image file for volume ${vol.vid}`);
    } else if (vol.saveOnStop) img = volumeFiles(app, vol).clean;
    if (img !== undefined && !existsSync(img)) {
      throw qerr('StoragePoolException', `Missing image file '${reportedOrReal(app, vol, img)}' for volume ${vol.vid}`);
    }
  }
}

function reportedOrReal(app: AppState, vol: Volume, real: string): string {
  const pool = poolOf(app, vol);
  const seed = pool.config.get('dir_path');
  if (!app.reportSeedPaths || seed === undefined || !real.startsWith(pool.realDir)) return real;
  return seed + real.slice(pool.realDir.length);
}

/** Volume.start() for every volume (file-reflink semantics). */
export function startVolumes(app: AppState, q: Qube): void {
  for (const vol of q.volumes.values()) {
    if (isKernelVolume(app, vol)) continue;
    const f = volumeFiles(app, vol);
    removeFile(f.importing);
    if (vol.saveOnStop && existsSync(f.dirty)) continue; // dirty from an unclean stop: keep it
    if (vol.snapOnStart) {
      const src = vol.source === null ? undefined : findVolumeByVid(app, vol.pool, vol.source);
      if (src === undefined) continue;
      removeFile(f.clean);
      mkdirSync(dirname(f.clean), { recursive: true });
      linkSync(volumeFiles(app, src).clean, f.clean);
      sparseCopy(f.clean, f.dirty);
    } else if (vol.saveOnStop) {
      sparseCopy(f.clean, f.dirty);
    } else {
      createSparse(f.dirty, vol.size === 0 ? newFileSize(app, ROOT_IMG_SIZE) : newFileSize(app, vol.size));
    }
  }
}

/** Volume.stop() for every volume: commit save_on_stop volumes, discard the others. */
export function stopVolumes(app: AppState, q: Qube): void {
  for (const vol of q.volumes.values()) {
    if (isKernelVolume(app, vol)) continue;
    const f = volumeFiles(app, vol);
    if (vol.saveOnStop && existsSync(f.dirty)) {
      commit(app, vol, f.dirty);
    } else if (!vol.saveOnStop) {
      if (!vol.snapOnStart) vol.size = volumeSize(app, vol);
      removeFile(f.dirty);
      removeFile(f.clean);
    }
  }
}

function commit(app: AppState, vol: Volume, from: string): void {
  const f = volumeFiles(app, vol);
  if (vol.revisionsToKeep !== 0 && existsSync(f.clean)) {
    const revs = volumeRevisions(app, vol);
    const next = revs.length > 0 ? String(Number((revs[revs.length - 1] as [string, string])[0]) + 1) : '1';
    const ts = isodate(statSync(f.clean).mtimeMs);
    sparseCopy(f.clean, `${f.clean}.${next}@${ts}Z`);
  }
  const revs = volumeRevisions(app, vol);
  const keep = vol.revisionsToKeep;
  const toRemove = keep === 0 ? revs : keep > 0 ? revs.slice(0, Math.max(0, revs.length - keep)) : revs.slice(0, 1);
  for (const [rev, ts] of toRemove) removeFile(`${f.clean}.${rev}@${ts}Z`);
  renameSync(from, f.clean);
}

/** Volume.resize(): grow/shrink the running image, or the committed one of an origin volume. */
export function resizeVolume(app: AppState, vol: Volume, size: number): void {
  if (isKernelVolume(app, vol)) throw drop('NotImplementedError: Volume LinuxModules has resize() not implemented');
  if (!vol.rw) throw qerr('StoragePoolException', `Cannot resize: ${vol.vid} is read-only`);
  const f = volumeFiles(app, vol);
  if (existsSync(f.dirty)) truncateSync(f.dirty, size);
  else if (vol.saveOnStop && !vol.snapOnStart && existsSync(f.clean)) truncateSync(f.clean, size);
  vol.size = size;
}

/** Volume.import_volume(src): copy the source's committed image in, as a new revision. */
export function importVolume(app: AppState, dst: Volume, src: Volume): void {
  if (isKernelVolume(app, dst)) {
    if (isKernelVolume(app, src)) return;
    throw qerr('StoragePoolException', 'clone of LinuxModules volume from different volume type is not supported');
  }
  if (!dst.saveOnStop) return;
  if (isKernelVolume(app, src)) throw drop('import of a kernel volume into a file volume');
  if (!src.saveOnStop) throw drop(`NotImplementedError: Cannot export: ${src.vid} is not save_on_stop`);
  const from = volumeFiles(app, src).clean;
  const to = volumeFiles(app, dst).importing;
  sparseCopy(from, to);
  commit(app, dst, to);
}

/** A file that exists with mtime set (for tests that fake revisions). */
export function touch(path: string, mtime: Date): void {
  mkdirSync(dirname(path), { recursive: true });
  closeSync(openSync(path, 'a'));
  utimesSync(path, mtime, mtime);
}

/** qubesd's per-qube directory (`/var/lib/qubes/appvms/NAME`), mapped below the root. */
export function qubeDir(app: AppState, q: Qube): string {
  return join(app.root, QUBES_BASE_DIR, q.klass === 'TemplateVM' ? 'vm-templates' : 'appvms', q.name);
}
