import { statSync } from 'node:fs';
import { execa } from 'execa';
import type { Env } from '../../core/config.ts';
import { WqError } from '../../core/errors.ts';

/** Standard system directories put first on PATH so Wyng always finds the system python3, ps, btrfs… */
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Never passed on to Wyng (an older wyng-qubes put the passphrase there). */
export const PASSPHRASE_ENV = 'WYNG_QUBES_PASSPHRASE';

let active = 0;
/** How many Wyng processes this program is running right now. */
export function activeWyngProcesses(): number {
  return active;
}

export interface WyngRunOptions {
  env: Env;
  /** `inherit` lets Wyng prompt on the terminal; `ignore` for unattended/library runs. */
  stdin: 'inherit' | 'ignore';
  /**
   * A bound on the size of every file Wyng writes (RLIMIT_FSIZE through util-linux `prlimit`):
   * writing past it fails with EFBIG (Python ignores SIGXFSZ). For receives of untrusted
   * volumes into dom0's temp area.
   */
  fileSizeLimit?: number | undefined;
  /** Receives Wyng's stdout/stderr as it runs (progress pass-through). */
  onStdout?: ((text: string) => void) | undefined;
  onStderr?: ((text: string) => void) | undefined;
}

export interface WyngProcessResult {
  argv: string[];
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The program could not be started at all. */
  spawnError: string | undefined;
}

/**
 * The environment Wyng runs with: ours minus a small COLUMNS (docs/design.md "Wyng contract"), a sane PATH.
 * Never a passphrase: that goes through a FIFO (secret.ts).
 */
export function wyngEnvironment(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (k === 'COLUMNS' || k === 'LINES' || k === PASSPHRASE_ENV) continue;
    out[k] = v;
  }
  // System directories first: Wyng runs `python3` and must get the system Python with its
  // modules (docs/design.md "Wyng contract"), and a root tool must not pick programs from a user's PATH first.
  const dirs = [...SYSTEM_PATH];
  for (const d of (env.PATH ?? '').split(':')) if (d !== '' && !dirs.includes(d)) dirs.push(d);
  out.PATH = dirs.join(':');
  return out;
}

/**
 * Runs Wyng once. Never throws for a failing Wyng: the caller maps the result (see errors.ts
 * in this folder). SIGINT/SIGTERM received meanwhile are forwarded to Wyng.
 */
let prlimitPath: string | null | undefined;
function prlimitProgram(): string | undefined {
  if (prlimitPath === undefined)
    prlimitPath =
      SYSTEM_PATH.map((d) => `${d}/prlimit`).find((p) => statSync(p, { throwIfNoEntry: false })?.isFile()) ?? null;
  return prlimitPath ?? undefined;
}

export async function runWyngProcess(wyng: string, argv: string[], opts: WyngRunOptions): Promise<WyngProcessResult> {
  const started = Date.now();
  let file = wyng;
  let args = argv;
  if (opts.fileSizeLimit !== undefined) {
    const prlimit = prlimitProgram();
    if (prlimit === undefined) throw new WqError('config', 'prlimit (util-linux) is missing: cannot bound a receive.');
    const n = Math.max(0, Math.floor(opts.fileSizeLimit));
    file = prlimit;
    args = [`--fsize=${n}:${n}`, '--', wyng, ...argv];
  }
  active += 1;
  const child = execa(file, args, {
    reject: false,
    extendEnv: false,
    env: wyngEnvironment(opts.env),
    stdin: opts.stdin,
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer | string) => {
    const text = chunk.toString();
    stdout += text;
    opts.onStdout?.(text);
  });
  child.stderr?.on('data', (chunk: Buffer | string) => {
    const text = chunk.toString();
    stderr += text;
    opts.onStderr?.(text);
  });
  const forward = (signal: NodeJS.Signals) => () => {
    child.kill(signal);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const result = await child;
    const spawnFailed = result.failed && result.exitCode === undefined && result.signal === undefined;
    return {
      argv,
      exitCode: result.exitCode,
      signal: result.signal,
      stdout,
      stderr,
      durationMs: Date.now() - started,
      spawnError: spawnFailed
        ? result.cause instanceof Error
          ? result.cause.message
          : result.shortMessage
        : undefined,
    };
  } finally {
    active -= 1;
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
