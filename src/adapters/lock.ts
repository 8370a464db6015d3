import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { WqError } from '../core/errors.ts';

/**
 * One wyng-qubes job at a time (CLI, RPC, timer, Salt) per state dir: a KERNEL lock (flock(2),
 * exclusive) on a file under the lock dir (`/run/lock`, env WYNG_QUBES_LOCK_DIR), named after
 * the state dir. The kernel releases it when the holder dies, however it dies (kill -9, crash),
 * so there is no stale lock to take over and no take-over race.
 *
 * Node has no flock(): we open the lock file ourselves and run util-linux `flock -n 3` with
 * that open file as its fd 3. flock locks belong to the open file description, which the child
 * shares with us; when the child exits, our descriptor still holds the lock until we close it
 * (release) or the process ends. Our descriptor is close-on-exec, so Wyng and hooks never
 * inherit it.
 *
 * `<state dir>/wyng-qubes.lock` is only a record of the holder (pid, job, since) for status
 * reports and humans; it decides nothing. A second job waits up to `timeoutMs`, then fails
 * with a "busy" error (exit 9).
 */
const LockInfoSchema = z.object({
  pid: z.number().int().positive(),
  startTicks: z.string(),
  job: z.string(),
  since: z.string(),
});
type LockInfo = z.output<typeof LockInfoSchema>;

export interface JobLock {
  /** the holder record (information only) */
  path: string;
  /** the kernel-locked file */
  lockFile: string;
  release(): Promise<void>;
}

export const DEFAULT_LOCK_DIR = '/run/lock';
const INFO_FILE = 'wyng-qubes.lock';
const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];
/** `flock -E`: the exit code meaning "held by someone else" (distinct from flock's own errors). */
const CONFLICT = 75;

/** Process start time from /proc (guards against PID reuse in the record); '' where /proc is absent. */
function startTicksOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

function readInfo(path: string): LockInfo | undefined {
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

/** The kernel-locked file of a state dir: one per installation, several test sandboxes side by side. */
export function lockFileOf(stateDir: string, lockDir: string): string {
  const id = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 16);
  return join(lockDir, `wyng-qubes-${id}.lock`);
}

let flockPath: string | undefined;
/** util-linux flock from the system directories (never from a caller's PATH). */
function flockProgram(): string {
  flockPath ??= SYSTEM_DIRS.map((d) => join(d, 'flock')).find((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
  return flockPath ?? 'flock';
}

/**
 * Opens (creating) the lock file: never following a symlink (the dir is world-writable) and
 * never blocking on a FIFO planted there; only a regular file is used.
 */
function openLockFile(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (err) {
    throw new WqError('config', `Cannot open lock file '${file}': ${(err as Error).message}`);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new WqError('config', `Lock file '${file}' is not a regular file.`);
  }
  return fd;
}

/** One non-blocking try: 'held' when another open file holds the lock. */
function tryLock(fd: number): Promise<'locked' | 'held'> {
  return new Promise((done, fail) => {
    const child = spawn(flockProgram(), ['-x', '-n', '-E', String(CONFLICT), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      env: { PATH: SYSTEM_DIRS.join(':'), LC_ALL: 'C' },
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (t: string) => (stderr += t));
    child.on('error', (err) => fail(new WqError('config', `Cannot run flock (util-linux): ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) done('locked');
      else if (code === CONFLICT) done('held');
      else fail(new WqError('config', `flock failed (${code ?? 'signal'}): ${stderr.trim()}`));
    });
  });
}

export async function acquireJobLock(
  stateDir: string,
  timeoutMs: number,
  job = 'job',
  lockDir: string = DEFAULT_LOCK_DIR,
): Promise<JobLock> {
  ensureStateDir(stateDir);
  const infoPath = join(stateDir, INFO_FILE);
  const lockFile = lockFileOf(stateDir, lockDir);
  const deadline = Date.now() + timeoutMs;
  const fd = openLockFile(lockFile);
  try {
    for (;;) {
      if ((await tryLock(fd)) === 'locked') break;
      if (Date.now() >= deadline) {
        const holder = readInfo(infoPath);
        const who = holder === undefined ? '' : ` (${holder.job}, pid ${holder.pid}, since ${holder.since})`;
        throw new WqError('busy', `Another wyng-qubes job is running${who}; try again later.`);
      }
      await sleep(Math.min(200, Math.max(10, deadline - Date.now())));
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  const me: LockInfo = {
    pid: process.pid,
    startTicks: startTicksOf(process.pid),
    job,
    since: new Date().toISOString(),
  };
  try {
    // the record only: a leftover of a killed holder is simply overwritten
    writeFileSync(infoPath, JSON.stringify(me), { mode: 0o600 });
  } catch (err) {
    closeSync(fd);
    throw new WqError('config', `Cannot write '${infoPath}': ${(err as Error).message}`);
  }
  let released = false;
  return {
    path: infoPath,
    lockFile,
    release: async () => {
      if (released) return;
      released = true;
      const current = readInfo(infoPath);
      if (current?.pid === me.pid && current.startTicks === me.startTicks) rmSync(infoPath, { force: true });
      closeSync(fd);
    },
  };
}

export interface RpcSlot {
  release(): void;
}

/**
 * One of `slots` places for a running RPC process (issue 14 §3): a kernel lock on
 * `<lock dir>/wyng-qubes-<id>-rpc-<n>.slot`, held until release or process end. Undefined when
 * every slot is taken: the caller answers "busy" at once instead of piling up processes.
 */
export async function tryRpcSlot(stateDir: string, lockDir: string, slots: number): Promise<RpcSlot | undefined> {
  const base = lockFileOf(stateDir, lockDir).replace(/\.lock$/, '');
  for (let n = 0; n < slots; n++) {
    const fd = openLockFile(`${base}-rpc-${n}.slot`);
    let got: 'locked' | 'held';
    try {
      got = await tryLock(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (got === 'locked') {
      let open = true;
      return {
        release: () => {
          if (open) closeSync(fd);
          open = false;
        },
      };
    }
    closeSync(fd);
  }
  return undefined;
}

/**
 * The running job, if any (for status reports): the holder record, shown only while the
 * kernel lock is actually held by someone.
 */
export function currentJob(stateDir: string, lockDir: string = DEFAULT_LOCK_DIR): LockInfo | undefined {
  const info = readInfo(join(stateDir, INFO_FILE));
  if (info === undefined) return undefined;
  let fd: number;
  try {
    fd = openSync(lockFileOf(stateDir, lockDir), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // no lock file: nobody ever held it
  }
  try {
    const r = spawnSync(flockProgram(), ['-x', '-n', '-E', String(CONFLICT), '3'], {
      stdio: ['ignore', 'ignore', 'ignore', fd],
      env: { PATH: SYSTEM_DIRS.join(':'), LC_ALL: 'C' },
    });
    return r.status === CONFLICT ? info : undefined;
  } finally {
    closeSync(fd); // drops the probe's lock, if it got one
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
