import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { WqError } from '../../core/errors.ts';

/**
 * Root-only directories of the state dir (the plan cache, the metadata cache): what lives there
 * was read from an archive or planned from it, so the directory must be ours alone.
 */

/**
 * Why `dir` is not a directory of ours that only we can enter (with `othersMayRead`: that only we
 * can write), or undefined when it is.
 */
export function privateDirProblem(dir: string, othersMayRead = false): string | undefined {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st === undefined) return 'missing';
  if (!st.isDirectory()) return 'not a directory';
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  if (st.uid !== euid) return `owned by uid ${st.uid}`;
  if (othersMayRead) return (st.mode & 0o022) !== 0 ? 'writable by group or others' : undefined;
  if ((st.mode & 0o077) !== 0) return 'open to group or others (expected mode 0700)';
  return undefined;
}

/** `stateDir/name`, created 0700 when missing; a `config` error naming `what` when it is not private. */
export function ensurePrivateDir(stateDir: string, name: string, what: string): string {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const dir = join(stateDir, name);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const problem = privateDirProblem(dir);
  if (problem !== undefined) throw new WqError('config', `Refusing ${what} '${dir}': ${problem}.`);
  return dir;
}

/**
 * A regular file's bytes (no symlink followed, at most `limit`); undefined when it does not exist.
 * Anything else is an `input` error naming `what`.
 */
export function readBoundedFile(path: string, limit: number, what: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new WqError('input', `Cannot open ${what} '${path}': ${code ?? (err as Error).message}.`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new WqError('input', `Refusing ${what} '${path}': not a regular file.`);
    if (st.size > limit) throw new WqError('input', `Refusing ${what} '${path}': larger than ${limit} bytes.`);
    const buf = Buffer.alloc(st.size + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > st.size) throw new WqError('input', `Refusing ${what} '${path}': it grew while read.`);
    }
    return buf.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes from `dir` the files named like `entry` (and their stray temp files, see writeFileAtomic)
 * that `expired` says are too old, then the oldest beyond `keep`.
 */
export function pruneEntries(
  dir: string,
  entry: RegExp,
  keep: number,
  expired: (mtimeMs: number) => boolean = () => false,
): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const temp = new RegExp(`^(?:${entry.source.replace(/^\^|\$$/g, '')})\\.wyng-qubes-\\d+\\.tmp$`);
  const kept: Array<{ path: string; mtimeMs: number }> = [];
  for (const name of names) {
    const isEntry = entry.test(name);
    if (!isEntry && !temp.test(name)) continue;
    const path = join(dir, name);
    try {
      const st = lstatSync(path);
      if (!st.isFile()) continue;
      if (expired(st.mtimeMs)) rmSync(path, { force: true });
      else if (isEntry) kept.push({ path, mtimeMs: st.mtimeMs });
    } catch {
      /* gone meanwhile */
    }
  }
  kept.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { path } of kept.slice(keep)) rmSync(path, { force: true });
}
