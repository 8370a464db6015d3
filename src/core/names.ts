import { WqError } from './errors.ts';

/**
 * Qube names as qubesd validates them (qubes.vm.validate_name): at most 31 characters,
 * a letter first, then letters, digits, `_`, `.`, `-`; not `none`/`default`; no `-dm` suffix.
 */
const QUBE_NAME = /^[a-zA-Z][a-zA-Z0-9_.-]*$/;

export function qubeNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.length > 31) return 'longer than 31 characters';
  if (!QUBE_NAME.test(name)) return 'must start with a letter and contain only letters, digits, "_", "." and "-"';
  if (name === 'none' || name === 'default') return `"${name}" is reserved`;
  if (name.endsWith('-dm')) return 'must not end with "-dm"';
  return undefined;
}

export function isValidQubeName(name: string): boolean {
  return qubeNameProblem(name) === undefined;
}

export function assertQubeName(name: string): string {
  const problem = qubeNameProblem(name);
  if (problem !== undefined) {
    throw new WqError('input', `Invalid qube name '${printable(name)}': ${problem}.`);
  }
  return name;
}

/** A session id as Wyng names sessions (without the `S_` prefix). */
export const SESSION_ID = /^\d{8}-\d{6}$/;

const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Makes untrusted text safe to echo in one line of a message, showing what was typed: letters of
 * any script stay readable (`wörk`), control, format (bidi overrides), unassigned and separator
 * characters other than the space are escaped JSON-style (`\u0001`, `\u202e`, `\n`), and so is
 * the backslash, so the text reads back unambiguously.
 */
export function printable(text: string, max = 80): string {
  const cleaned = Array.from(text, (c) =>
    /^[\p{C}\p{Z}\\]$/u.test(c) && c !== ' '
      ? (ESCAPES[c] ??
        [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''))
      : c,
  );
  return cleaned.length > max ? `${cleaned.slice(0, max).join('')}…` : cleaned.join('');
}
