import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { create } from 'tar';

/**
 * The metadata volume: a gzip tar of every `*.xml` and `notes.txt` below the Qubes dir,
 * relative paths, regular files only (symlinks are neither followed nor stored). Built
 * in-process; the working directory never changes (tar's `cwd` option only resolves paths).
 *
 * qubesd keeps writing while a backup runs: it saves qubes.xml as a temp file
 * `qubes.xmlXXXXXXXX` and renames it over qubes.xml. So the directory walk never stats other
 * entries (a vanished temp file is no error), and each file is read ONCE through one open file
 * descriptor into a private copy that tar then archives: a file replaced meanwhile is stored
 * whole, either as it was or as it is, never torn.
 */
export function collectMetadataFiles(qubesDir: string, maxDepth = 8): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number): void => {
    if (depth > maxDepth) return;
    let entries;
    try {
      entries = readdirSync(join(qubesDir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(relPath, depth + 1);
      else if (entry.isFile() && (entry.name === 'notes.txt' || entry.name.endsWith('.xml'))) out.push(relPath);
    }
  };
  walk('', 0);
  return out;
}

export interface RegularFile {
  data: Buffer;
  mode: number;
  atime: Date;
  mtime: Date;
}

/**
 * A regular file's contents and times, read through one descriptor; undefined when the path is
 * gone or is no longer a regular file (a symlink is not followed; a FIFO does not block: it is
 * opened non-blocking and refused by its type).
 */
export function readRegularFile(path: string): RegularFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.max(65536, st.size - total + 1));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    return { data: Buffer.concat(chunks, total), mode: st.mode, atime: st.atime, mtime: st.mtime };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds the tar at `tarPath`; returns the relative paths stored (sorted). `extra` files (our own,
 * e.g. the volume record) are stored at the top, after the Qubes dir's; a Qubes dir file of the
 * same name is left out.
 */
export async function buildMetadataTar(
  qubesDir: string,
  tarPath: string,
  extra: ReadonlyArray<{ name: string; data: string }> = [],
): Promise<string[]> {
  const stage = mkdtempSync(join(dirname(tarPath), 'metadata-'));
  try {
    const stored: string[] = [];
    const ours = new Set(extra.map((e) => e.name));
    for (const rel of collectMetadataFiles(qubesDir)) {
      if (ours.has(rel)) continue;
      const file = readRegularFile(join(qubesDir, rel));
      if (file === undefined) continue; // removed or replaced by something else meanwhile
      const copy = join(stage, rel);
      mkdirSync(dirname(copy), { recursive: true, mode: 0o700 });
      writeFileSync(copy, file.data, { mode: 0o600, flag: 'wx' });
      chmodSync(copy, file.mode & 0o777); // the original mode, not narrowed by the umask
      utimesSync(copy, file.atime, file.mtime);
      stored.push(rel);
    }
    for (const e of extra) {
      writeFileSync(join(stage, e.name), e.data, { mode: 0o644, flag: 'wx' });
      stored.push(e.name);
    }
    await create(
      { gzip: true, file: tarPath, cwd: stage, portable: true, noDirRecurse: true, follow: false },
      stored.map((f) => `./${f}`),
    );
    return stored;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
