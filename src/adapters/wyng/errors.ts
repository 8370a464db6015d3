import { readFileSync, rmSync } from 'node:fs';
import * as z from 'zod';
import { WqError } from '../../core/errors.ts';
import type { WyngProcessResult } from './process.ts';

/** The `<json>.error` file Wyng writes on exit 2 (docs/design.md "Wyng contract"). */
const ErrorFileSchema = z.object({ rc: z.number().int(), volumes: z.array(z.string()) });

/** The last meaningful line Wyng printed on stderr (its fatal message), for our messages. */
export function wyngMessage(result: WyngProcessResult): string {
  const lines = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('Traceback') && !l.startsWith('File "'));
  const last = lines[lines.length - 1];
  if (last !== undefined) return last.length > 500 ? `${last.slice(0, 500)}…` : last;
  return `exit code ${result.exitCode ?? result.signal ?? 'unknown'}`;
}

/** Deletes a stale error file: Wyng never removes it itself. */
export function removeErrorFile(jsonPath: string): void {
  rmSync(`${jsonPath}.error`, { force: true });
}

/** Reads the failed volumes of an exit-2 run, or undefined when there is no error file. */
export function readErrorFile(jsonPath: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(`${jsonPath}.error`, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return ErrorFileSchema.parse(JSON.parse(text)).volumes;
  } catch {
    throw new WqError('wyng', `Wyng's error file ${jsonPath}.error is malformed.`, { wyngCode: 2 });
  }
}

/**
 * Maps a failed Wyng run to our error (README "Exit codes"): 3 auth, 5/6/7 storage,
 * 8 or a signal → interrupted, anything else → Wyng's own code. Exit 2 with an error file is
 * handled by the caller (per-volume failures), so here it is a plain failure (argparse usage).
 */
export function wyngFailure(result: WyngProcessResult, what: string): WqError {
  if (result.spawnError !== undefined) {
    return new WqError(
      'config',
      `Could not run Wyng (${result.argv.length > 0 ? what : 'start'}): ${result.spawnError}`,
    );
  }
  if (result.signal !== undefined) {
    if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') {
      return new WqError('interrupted', `Wyng ${what} was interrupted (${result.signal}).`, { wyngCode: 8 });
    }
    return new WqError('wyng', `Wyng ${what} was killed by signal ${result.signal}.`, { wyngCode: 1 });
  }
  const code = result.exitCode ?? 1;
  const message = wyngMessage(result);
  switch (code) {
    case 3:
      return new WqError('auth', `Wyng ${what}: ${message}`, { wyngCode: 3 });
    case 5:
    case 6:
    case 7:
      return new WqError('storage', `Wyng ${what}: ${message}`, { wyngCode: code });
    case 8:
      return new WqError('interrupted', `Wyng ${what} was interrupted.`, { wyngCode: 8 });
    default:
      return new WqError('wyng', `Wyng ${what} failed (exit ${code}): ${message}`, { wyngCode: code });
  }
}

/** Exit-0 soft failures Wyng reports only as text (docs/design.md "Wyng contract"). */
export interface SoftFailures {
  /** `Volume 'X' not found; Skipping.` */
  notFound: string[];
  /** `  Warning: Local 'P' does not exist!` */
  missingLocal: string[];
}

export function softFailures(result: WyngProcessResult): SoftFailures {
  const text = `${result.stdout}\n${result.stderr}`;
  const notFound = [...text.matchAll(/Volume '([^']*)' not found; Skipping\./g)].map((m) => m[1]!);
  const missingLocal = [...text.matchAll(/Warning: Local '([^']*)' does not exist!/g)].map((m) => m[1]!);
  return { notFound, missingLocal };
}

/**
 * Volumes of a receive that Wyng never announced (`Receiving volume 'X' …`, docs/design.md "Wyng contract").
 * Wyng exits 0 without receiving anything when its --local-from file is missing, so a
 * volume it did not announce was not restored. Silenced output (no banner: `--quiet`) says nothing.
 */
export function unannouncedVolumes(result: WyngProcessResult, volumes: readonly string[]): string[] {
  if (!/^Wyng /m.test(result.stdout)) return [];
  const seen = new Set([...result.stdout.matchAll(/^Receiving volume '([^']*)'/gm)].map((m) => m[1]!));
  return volumes.filter((v) => !seen.has(v));
}
