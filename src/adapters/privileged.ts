import { spawn } from 'node:child_process';

/**
 * Runs the privileged part of an RPC service: `sudo -n <self> rpc privileged`, with the
 * validated call on stdin. Fixed argv (a sudoers rule can name it exactly, rpc/README.md);
 * its stdout is collected (bounded), its stderr goes to ours (the dom0 log).
 */
export interface PrivilegedRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout exceeded the bound and was cut. */
  truncated: boolean;
  spawnError: string | undefined;
}

const MAX_STDOUT = 32 * 1024 * 1024;

export function runPrivileged(
  sudo: string,
  self: string,
  input: string,
  opts: { env: Record<string, string>; onStderr: (text: string) => void },
): Promise<PrivilegedRun> {
  return new Promise((resolve) => {
    const child = spawn(sudo, ['-n', '--', self, 'rpc', 'privileged'], {
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
    });
    let stdout = '';
    let truncated = false;
    let spawnError: string | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (stdout.length + chunk.length > MAX_STDOUT) truncated = true;
      else stdout += chunk;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => opts.onStderr(chunk));
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => {
      spawnError = err.message;
    });
    child.on('close', (code, signal) => resolve({ exitCode: code, signal, stdout, truncated, spawnError }));
    child.stdin.end(input);
  });
}
