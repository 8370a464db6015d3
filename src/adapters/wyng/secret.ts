import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../../core/config.ts';
import { WqError } from '../../core/errors.ts';

/**
 * Hands the archive passphrase to ONE Wyng run without putting it in any process environment
 * or argv (issue 14 §4). Wyng runs `--passcmd=CMD` through `/bin/sh -c` and reads its stdout
 * (docs/design.md "Wyng contract"); CMD reads one line from a FIFO in a fresh private directory (mode 700,
 * `wyng-qubes-<pid>-XXXXXX`, so a crashed run's directory is removed like a job dir).
 *
 * We hold the FIFO open read-write and write the line into the kernel's pipe buffer before
 * Wyng starts: the reader never blocks on open, and no other process can read it (0700 dir,
 * 0600 FIFO). When Wyng's key agent answers instead, the line is never read and is discarded
 * when we close the FIFO. `timeout` bounds an unexpected second read (Wyng reads once).
 * Unlike an environment variable, nothing is inherited by Wyng's detached key agent.
 */
export interface PassphraseDelivery {
  /** the `--passcmd` value for this run */
  command: string;
  /** closes and removes the FIFO; idempotent */
  dispose(): void;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Seconds the passcmd waits for the line; it is in the pipe before Wyng starts. */
const READ_TIMEOUT_S = 10;

export function deliverPassphrase(env: Env, passphrase: string): PassphraseDelivery {
  if (/[\0\n]/.test(passphrase)) throw new WqError('config', 'The passphrase contains a newline or NUL.');
  const line = Buffer.from(`${passphrase}\n`, 'utf8');
  // the pipe buffer (64 KiB on Linux, at least 4 KiB) must take the whole line without a reader
  if (line.length > 4096) throw new WqError('config', 'The passphrase is longer than 4095 bytes.');
  const root = env.TMPDIR ?? tmpdir();
  const dir = mkdtempSync(join(root, `wyng-qubes-${process.pid}-`));
  const fifo = join(dir, 'passphrase');
  let fd: number | undefined;
  const dispose = (): void => {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      fd = undefined;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (/['\n]/.test(fifo)) throw new Error(`temp dir path '${root}' holds a quote or newline`);
    execFileSync('mkfifo', ['-m', '600', fifo], { env: { PATH: SYSTEM_PATH }, stdio: 'ignore' });
    fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    writeSync(fd, line);
    line.fill(0);
  } catch (err) {
    dispose();
    throw new WqError('config', `Cannot prepare the passphrase for Wyng: ${(err as Error).message}`);
  }
  return { command: `timeout ${READ_TIMEOUT_S} head -n 1 '${fifo}'`, dispose };
}
