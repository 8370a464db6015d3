import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireJobLock } from '../../adapters/lock.ts';
import { WyngArchive } from '../../adapters/wyng/archive.ts';
import { activeWyngProcesses } from '../../adapters/wyng/process.ts';
import { locateWyng } from '../../adapters/wyng/locate.ts';
import type { CommandContext } from './context.ts';

export interface Job {
  wyng: WyngArchive;
  /** Private temp dir (mode 700), removed when the job ends. */
  tmpDir: string;
}

export function makeWyng(ctx: CommandContext): WyngArchive {
  const wyngPath = locateWyng(ctx.options.wyng ?? ctx.config.wyng, process.argv[1], ctx.io.env.PATH);
  const o = ctx.options;
  return new WyngArchive({
    wyngPath,
    globals: { dest: o.dest, metaDir: o.metaDir, unattended: o.unattended, authmin: o.authmin, wyngopt: o.wyngopt },
    env: ctx.io.env,
    passphrase: ctx.passphrase,
    stdin: ctx.io.wyngStdin,
    passthrough: (text) => (o.json ? ctx.io.stderr(text) : ctx.io.stdout(text)),
    // Wyng's errors and warnings stay on stderr (wyng-util-qubes passes Wyng's stderr through as is)
    passthroughStderr: (text) => ctx.io.stderr(text),
    debug: ctx.debug,
  });
}

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
 * Runs one job: the global lock (one job at a time), a private temp dir, and cleanup on any
 * exit — also when SIGINT/SIGTERM arrive while no Wyng runs (with Wyng running, the signal is
 * forwarded to it and the job ends through Wyng's interrupt code).
 */
export async function withJob<T>(ctx: CommandContext, fn: (job: Job) => Promise<T>): Promise<T> {
  const wyng = makeWyng(ctx);
  const lock = await acquireJobLock(
    ctx.config.stateDir,
    ctx.config.lockTimeoutMs,
    `${ctx.command} (pid ${process.pid})`,
    ctx.config.lockDir,
  );
  const tmpRoot = ctx.io.env.TMPDIR ?? tmpdir();
  removeStaleJobDirs(tmpRoot);
  const tmpDir = mkdtempSync(join(tmpRoot, `${TMP_PREFIX}${process.pid}-`));
  const cleanup = (): void => {
    rmSync(tmpDir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    if (activeWyngProcesses() > 0) return;
    cleanup();
    void lock.release().finally(() => process.exit(8));
  };
  const onInt = onSignal;
  const onTerm = onSignal;
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('exit', cleanup);
  try {
    return await (ctx.around !== undefined ? ctx.around(() => fn({ wyng, tmpDir })) : fn({ wyng, tmpDir }));
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('exit', cleanup);
    cleanup();
    await lock.release();
  }
}
