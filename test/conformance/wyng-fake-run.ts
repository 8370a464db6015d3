// Runs the Wyng test double (test/fakes/wyng) as a separate process, as the product does.
import { spawn, type ChildProcess } from 'node:child_process';
import { FAKE_WYNG } from '../helpers/cli.ts';

export { FAKE_WYNG };

export interface FakeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface FakeRunOptions {
  env: Record<string, string | undefined>;
  cwd?: string | undefined;
  /** Text written to stdin (then closed); undefined = /dev/null. */
  stdin?: string | undefined;
  timeoutMs?: number | undefined;
  /** Called once the process runs; may signal it, watch its output… */
  during?:
    ((child: ChildProcess, out: { stdout: () => string; stderr: () => string }) => void | Promise<void>) | undefined;
}

export function runFake(argv: string[], opts: FakeRunOptions): Promise<FakeRun> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
    const child = spawn(FAKE_WYNG, argv, {
      env,
      cwd: opts.cwd,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    if (opts.stdin !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.stdin);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.during) {
      Promise.resolve(opts.during(child, { stdout: () => stdout, stderr: () => stderr })).catch((e: unknown) => {
        child.kill('SIGKILL');
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    }
  });
}

/** Resolves when `cond()` holds (polling), rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
