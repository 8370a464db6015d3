import type { ErrorRecord } from '../core/errors.ts';

/**
 * The `--json` document every command prints (README "JSON output"):
 * `{ ok, exitCode, command, result, errors }` — exactly one document, newline-terminated.
 */
export interface Envelope<T = unknown> {
  ok: boolean;
  exitCode: number;
  command: string;
  result: T | null;
  errors: ErrorRecord[];
}

export function makeEnvelope<T>(
  command: string,
  exitCode: number,
  result: T | null,
  errors: ErrorRecord[],
): Envelope<T> {
  return { ok: exitCode === 0, exitCode, command, result, errors };
}

export function renderEnvelope(command: string, exitCode: number, result: unknown, errors: ErrorRecord[]): string {
  return `${JSON.stringify(makeEnvelope(command, exitCode, result, errors))}\n`;
}
