import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { WqError } from '../../src/core/errors.ts';
import { BUNDLE, ROOT, type CliRun } from './cli.ts';
import type { SandboxOptions, SeedSession } from './sim.ts';

export const SUDO_STUB = join(ROOT, 'test', 'fixtures', 'rpc', 'sudo-stub');
export const QREXEC_CLIENT_STUB = join(ROOT, 'test', 'fixtures', 'rpc', 'qrexec-client-vm-stub');
export const SERVICES_DIR = join(ROOT, 'rpc', 'services');

/** The archive the RPC tests talk to: `work` and `personal` in one session, 20261123-034732. */
export const RPC_SEED: SeedSession[] = [{ at: '2026-11-23T03:47:32Z', qubes: ['work', 'personal'] }];

/**
 * Sandbox options of the RPC tests (for buildSandbox): no qubesd, the RPC_SEED archive, the
 * profiles, the privileged part in-process, a short lock wait, UTC; the environment carries
 * PATH and HOME because the tests hand `sb.env` to the entry point as the whole environment.
 */
export function rpcSandboxOptions(
  profiles: SandboxOptions['profiles'],
  env: Record<string, string> = {},
): SandboxOptions {
  return {
    qubesd: false,
    archive: { seed: RPC_SEED },
    ...(profiles !== undefined ? { profiles } : {}),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/',
      TZ: 'UTC',
      WYNG_QUBES_RPC_SUDO: '0',
      WYNG_QUBES_LOCK_TIMEOUT_MS: '500',
      ...env,
    },
  };
}

const serviceDirs: string[] = [];
let cleanupRegistered = false;

/** Service script copies are removed when the test process ends (kept with WYNG_QUBES_KEEP_TEST_DIRS=1). */
function track(dir: string): void {
  serviceDirs.push(dir);
  if (cleanupRegistered || process.env.WYNG_QUBES_KEEP_TEST_DIRS === '1') return;
  cleanupRegistered = true;
  process.once('exit', () => {
    for (const d of serviceDirs) rmSync(d, { recursive: true, force: true });
  });
}

export function qrexecEnv(service: string, argument: string, caller: string): Record<string, string> {
  return {
    QREXEC_SERVICE_FULL_NAME: argument === '' ? `${service}+` : `${service}+${argument}`,
    QREXEC_SERVICE_ARGUMENT: argument,
    QREXEC_REMOTE_DOMAIN: caller,
    QREXEC_REQUESTED_TARGET_TYPE: 'keyword',
    QREXEC_REQUESTED_TARGET_KEYWORD: 'adminvm',
  };
}

/** The entry point in-process (`wyng-qubes rpc SERVICE`), stdin given as bytes, size cap honoured. */
export async function rpcInProcess(
  scriptService: string | undefined,
  env: Record<string, string | undefined>,
  stdin: Uint8Array | string,
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const bytes = typeof stdin === 'string' ? Buffer.from(stdin) : Buffer.from(stdin);
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    stdinIsTTY: false,
    wyngStdin: 'ignore',
    env,
    confirm: async () => false,
    readStdin: async (limit) => {
      if (bytes.length > limit) throw new WqError('input', `request larger than ${limit} bytes`);
      return bytes;
    },
  };
  const code = await runCli(scriptService === undefined ? ['rpc'] : ['rpc', scriptService], io);
  return { code, stdout, stderr };
}

/**
 * Runs an installed service script the way qrexec does: the script from rpc/services with
 * `/usr/bin/wyng-qubes` replaced by the bundle, the qrexec environment, stdin from `stdin`
 * (or left open for the caller to drive), stdout/stderr captured, no TTY.
 */
export function spawnService(
  service: string,
  env: Record<string, string | undefined>,
  opts: { argv1?: string } = {},
): { child: ChildProcessWithoutNullStreams; done: Promise<CliRun> } {
  const script = readFileSync(join(SERVICES_DIR, service), 'utf8');
  const entry = `${process.execPath} ${BUNDLE}`;
  const body = script.replace('exec /usr/bin/wyng-qubes ', `exec ${entry} `);
  if (body === script) throw new Error(`service script ${service} does not exec /usr/bin/wyng-qubes`);
  const dir = mkdtempSync(join(tmpdir(), 'wq-svc-'));
  track(dir);
  const path = join(dir, service);
  writeFileSync(path, body, { mode: 0o755 });
  const child = spawn(path, opts.argv1 !== undefined ? [opts.argv1] : [], {
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { child, done };
}

/** Runs a service script to completion with `stdin` as its whole input. */
export async function runService(
  service: string,
  env: Record<string, string | undefined>,
  stdin: string | Buffer,
): Promise<CliRun> {
  const { child, done } = spawnService(service, env);
  child.stdin.end(stdin);
  return done;
}

/** Parses the one JSON document a service prints. */
export function onlyDocument(stdout: string): {
  ok: boolean;
  exitCode: number;
  command: string;
  result: unknown;
  errors: Array<{ kind: string; message: string; qube?: string }>;
} {
  const lines = stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) throw new Error(`expected exactly one JSON document, got ${lines.length} lines: ${stdout}`);
  return JSON.parse(lines[0]!) as ReturnType<typeof onlyDocument>;
}
