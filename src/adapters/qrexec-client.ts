import { spawn } from 'node:child_process';

/** One `qrexec-client-vm TARGET SERVICE+ARG` call with the request on stdin. */
export interface QrexecCallResult {
  exitCode: number | undefined;
  signal: string | undefined;
  stdout: string;
  stderr: string;
  spawnError: { code: string | undefined; message: string } | undefined;
}

const MAX_OUTPUT = 32 * 1024 * 1024;

export function callQrexec(
  program: string,
  target: string,
  service: string,
  input: string,
  env: Record<string, string>,
): Promise<QrexecCallResult> {
  return new Promise((resolve) => {
    const child = spawn(program, [target, service], { env, stdio: ['pipe', 'pipe', 'pipe'], shell: false });
    let stdout = '';
    let stderr = '';
    let spawnError: QrexecCallResult['spawnError'];
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += c;
    });
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 65536) stderr += c;
    });
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = { code: err.code, message: err.message };
    });
    child.on('close', (code, signal) =>
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, stdout, stderr, spawnError }),
    );
    child.stdin.end(input);
  });
}
