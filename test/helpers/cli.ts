import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUNDLE = join(ROOT, 'dist', 'wyng-qubes.mjs');
/** The CLI built WITH the test-only crash hook (scripts/build.mjs); only the crash suite runs it. */
export const TEST_HOOKS_BUNDLE = join(ROOT, 'dist', 'test-hooks', 'wyng-qubes.mjs');
export const FAKE_WYNG = join(ROOT, 'test', 'fakes', 'wyng');
/**
 * What the tests loosen in the fake Wyng, which otherwise behaves like Wyng (test/fakes/README.md):
 * a normal user may run `send`, and the pools (plain temp directories) count as Btrfs subvolumes.
 */
export const FAKE_WYNG_LOOSE: Readonly<Record<string, string>> = {
  WYNG_FAKE_ALLOW_NONROOT: '1',
  WYNG_FAKE_ANY_POOL: '1',
};

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Drives the real program in-process with recorded output. */
export async function runInProcess(
  argv: string[],
  opts: { env?: Record<string, string | undefined>; tty?: boolean; confirm?: boolean; stdin?: string } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    stdinIsTTY: opts.tty ?? false,
    wyngStdin: 'ignore',
    env: { PATH: process.env.PATH, ...opts.env },
    confirm: async () => opts.confirm ?? false,
    readStdin: async () => Buffer.from(opts.stdin ?? ''),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** Runs the built bundle as a separate process (what users and qrexec run). */
export function runBundle(
  argv: string[],
  opts: { env?: Record<string, string | undefined>; stdin?: string; cwd?: string; bundle?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.bundle ?? BUNDLE, ...argv], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
      cwd: opts.cwd ?? ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}
