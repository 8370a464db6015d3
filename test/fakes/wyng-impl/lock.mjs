// The machine-wide lock (Wyng: lockf on /var/lock/wyng). Here: a file created exclusively that
// holds the owner's pid; a lock whose owner no longer runs is stale and taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

let held;

function ownerAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e && e.code === 'EPERM') return true;
    return false;
  }
  // A recycled pid of an unrelated program does not hold our lock.
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('wyng');
  } catch {
    return true;
  }
}

/** Takes the lock; returns false when another live instance holds it. */
export function acquireLock(path) {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held = path;
      return true;
    } catch (e) {
      if (!e || e.code !== 'EEXIST') throw e;
    }
    let pid;
    try {
      pid = Number(readFileSync(path, 'utf8').trim());
    } catch {
      continue; // removed meanwhile: try again
    }
    if (ownerAlive(pid)) return false;
    try {
      unlinkSync(path);
    } catch {
      /* another process cleaned it up */
    }
  }
  return false;
}

export function releaseLock() {
  if (held === undefined) return;
  try {
    if (readFileSync(held, 'utf8').trim() === String(process.pid)) unlinkSync(held);
  } catch {
    /* already gone */
  }
  held = undefined;
}
