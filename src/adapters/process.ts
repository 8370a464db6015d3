import { spawn } from 'node:child_process';

/** How a program run ended, and what it printed (bounded). */
export interface ProcessResult {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  /** stderr, unless it went to `onStderr` */
  stderr: string;
  /** stdout exceeded `maxStdout`; the rest was dropped */
  truncated: boolean;
  /** the program could not be started */
  spawnError: { code: string | undefined; message: string } | undefined;
}

export interface RunProcessOptions {
  env: Record<string, string>;
  /** written to the program's stdin, which is then closed */
  input: string;
  /** default 32 MiB */
  maxStdout?: number;
  /** receives stderr as it comes instead of collecting it (at most 64 KiB are collected) */
  onStderr?: (text: string) => void;
}

const MAX_STDOUT = 32 * 1024 * 1024;
const MAX_STDERR = 64 * 1024;

/** Runs a program without a shell, input on stdin; never throws (the result says what happened). */
export function runProcess(program: string, args: readonly string[], opts: RunProcessOptions): Promise<ProcessResult> {
  const maxStdout = opts.maxStdout ?? MAX_STDOUT;
  return new Promise((resolve) => {
    const child = spawn(program, [...args], { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], shell: false });
    let stdout = '';
    let stderr = '';
    let truncated = false;
    let spawnError: ProcessResult['spawnError'];
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (truncated || stdout.length + chunk.length > maxStdout) truncated = true;
      else stdout += chunk;
    });
    child.stderr.on('data', (chunk: string) => {
      if (opts.onStderr !== undefined) opts.onStderr(chunk);
      else if (stderr.length < MAX_STDERR) stderr += chunk;
    });
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = { code: err.code, message: err.message };
    });
    child.on('close', (code, signal) =>
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, stdout, stderr, truncated, spawnError }),
    );
    child.stdin.end(opts.input);
  });
}
