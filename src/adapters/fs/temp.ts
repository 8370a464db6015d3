import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TMP_PREFIX = 'wyng-qubes-';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp dirs of jobs whose process is gone: a job killed with SIGKILL (or a power
 * loss) never runs its cleanup. Only our own directories named `wyng-qubes-<pid>-XXXXXX`
 * of a process that no longer exists are touched.
 */
export function removeStaleJobDirs(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  for (const name of names) {
    const m = /^wyng-qubes-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (m === null || pidAlive(Number(m[1]))) continue;
    const path = join(root, name);
    try {
      const st = lstatSync(path);
      if (st.isDirectory() && (uid === undefined || st.uid === uid)) rmSync(path, { recursive: true, force: true });
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
}

/**
 * A job's private temp dir (mode 700) under `root`, named `wyng-qubes-<pid>-XXXXXX`; the dirs
 * of dead jobs are removed first.
 */
export function createJobDir(root: string): string {
  removeStaleJobDirs(root);
  return mkdtempSync(join(root, `${TMP_PREFIX}${process.pid}-`));
}

export function removeJobDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
