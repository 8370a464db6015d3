import { runProcess, type ProcessResult } from './process.ts';

/**
 * Runs the privileged part of an RPC service: `sudo -n <self> rpc privileged`, with the
 * validated call on stdin. Fixed argv (a sudoers rule can name it exactly, rpc/README.md);
 * its stdout is collected (bounded), its stderr goes to ours (the dom0 log).
 */
export function runPrivileged(
  sudo: string,
  self: string,
  input: string,
  opts: { env: Record<string, string>; onStderr: (text: string) => void },
): Promise<ProcessResult> {
  return runProcess(sudo, ['-n', '--', self, 'rpc', 'privileged'], { env: opts.env, input, onStderr: opts.onStderr });
}
