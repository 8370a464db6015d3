import { runProcess, type ProcessResult } from './process.ts';

/** One `qrexec-client-vm TARGET SERVICE+ARG` call with the request on stdin. */
export function callQrexec(
  program: string,
  target: string,
  service: string,
  input: string,
  env: Record<string, string>,
): Promise<ProcessResult> {
  return runProcess(program, [target, service], { env, input });
}
