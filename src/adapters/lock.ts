import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { WqError } from '../core/errors.ts';

/**
 * One wyng-qubes job at a time (CLI, RPC, timer, Salt): an exclusive lock file under the
 * state dir. A lock whose owner process is gone (kill -9, crash) is taken over. A second job
 * waits up to `timeoutMs`, then fails with a "busy" error (exit 9).
 */
const LockInfoSchema = z.object({
  pid: z.number().int().positive(),
  startTicks: z.string(),
  job: z.string(),
  since: z.string(),
});
type LockInfo = z.output<typeof LockInfoSchema>;

export interface JobLock {
  path: string;
  release(): Promise<void>;
}

/** Process start time from /proc (guards against PID reuse); '' where /proc is absent. */
function startTicksOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

function alive(info: LockInfo): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const ticks = startTicksOf(info.pid);
  return ticks === '' || info.startTicks === '' || ticks === info.startTicks;
}

function readLock(path: string): LockInfo | undefined {
  try {
    return LockInfoSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}

export function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(stateDir, '.write-test'), '');
    rmSync(join(stateDir, '.write-test'), { force: true });
  } catch (err) {
    throw new WqError('config', `State directory '${stateDir}' is not writable: ${(err as Error).message}`);
  }
}

export async function acquireJobLock(stateDir: string, timeoutMs: number, job = 'job'): Promise<JobLock> {
  ensureStateDir(stateDir);
  const path = join(stateDir, 'wyng-qubes.lock');
  const me: LockInfo = {
    pid: process.pid,
    startTicks: startTicksOf(process.pid),
    job,
    since: new Date().toISOString(),
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(path, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        path,
        release: async () => {
          if (released) return;
          released = true;
          const current = readLock(path);
          if (current?.pid === me.pid && current.startTicks === me.startTicks) rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WqError('config', `Cannot create lock file '${path}': ${(err as Error).message}`);
      }
    }
    const holder = readLock(path);
    if (holder === undefined || !alive(holder)) {
      // Stale (owner gone) or unreadable: take it over. A half-written file is at most
      // milliseconds old, so give a fresh unreadable file one retry before removing it.
      if (holder === undefined) await sleep(50);
      if (holder !== undefined || readLock(path) === undefined) rmSync(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new WqError(
        'busy',
        `Another wyng-qubes job is running (${holder.job}, pid ${holder.pid}, since ${holder.since}); try again later.`,
      );
    }
    await sleep(Math.min(200, Math.max(10, deadline - Date.now())));
  }
}

/** Information about the running job, if any (for status reports). */
export function currentJob(stateDir: string): LockInfo | undefined {
  const info = readLock(join(stateDir, 'wyng-qubes.lock'));
  return info !== undefined && alive(info) ? info : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
