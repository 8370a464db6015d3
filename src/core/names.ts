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

/** Makes untrusted text safe to echo in one line of a message. */
export function printable(text: string, max = 80): string {
  const cleaned = text.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}
