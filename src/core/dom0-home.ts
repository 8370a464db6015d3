// dom0's home in a backup session (issue 19 §2): one tar of the invoking user's home, stored as
// its own imported volume next to the metadata volume; restored only into a new directory
// `home-restore-SESSION` inside that home, never over it. Pure rules; I/O in adapters/home.
import { WqError } from './errors.ts';
import { printable } from './names.ts';

/** The archive volume holding the gzip tar of dom0's home. */
export const DOM0_HOME_VOLUME = 'wyng-qubes-dom0-home';

/** Left out of the home tar unless configured otherwise (caches are rebuilt). */
export const DEFAULT_HOME_EXCLUDES: readonly string[] = ['.cache'];

/** A Linux user name as useradd accepts it (no paths, no options). */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export function checkUserName(name: string): string {
  if (!USER_NAME.test(name) || name === 'root')
    throw new WqError('option', `'${printable(name)}' is not a dom0 user name wyng-qubes backs up.`);
  return name;
}

/**
 * `--dom0-user`, else the user who ran sudo, else the Qubes GUI user (the first member of the
 * `qubes` group, as Qubes' installer makes it); none is an option error.
 */
export function dom0User(option: string | undefined, sudoUser: string | undefined, qubesGroupUser?: string): string {
  const sudo = sudoUser !== undefined && sudoUser !== '' && sudoUser !== 'root' ? sudoUser : undefined;
  const name = option ?? sudo ?? qubesGroupUser;
  if (name === undefined)
    throw new WqError('option', '--dom0-home: whose home? Run through sudo as that user, or give --dom0-user NAME.');
  return checkUserName(name);
}

/** The first member of group `qubes` in an /etc/group text, if any. */
export function qubesGroupMember(groupFile: string): string | undefined {
  for (const line of groupFile.split('\n')) {
    const [name, , , members] = line.split(':');
    if (name !== 'qubes' || members === undefined) continue;
    const first = members.split(',').map((m) => m.trim())[0];
    return first === undefined || first === '' ? undefined : first;
  }
  return undefined;
}

/** An exclude: a path relative to the home, without `..`. */
export function checkExclude(path: string): string {
  const p = path.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (p === '' || p.startsWith('/') || p.split('/').includes('..') || /[\x00-\x1f\x7f]/.test(p))
    throw new WqError('option', `--dom0-home-exclude '${printable(path)}': give a path inside the home.`);
  return p;
}

export function isExcluded(rel: string, excludes: readonly string[]): boolean {
  return excludes.some((e) => rel === e || rel.startsWith(`${e}/`));
}

/** The directory a restore extracts into, inside the user's home. */
export function homeRestoreDirName(session: string): string {
  return `home-restore-${session}`;
}

export interface HomeLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
  maxDepth: number;
  maxPathLength: number;
}

export const DEFAULT_HOME_LIMITS: HomeLimits = {
  maxFiles: 1_000_000,
  maxFileBytes: 64 * 1024 ** 3,
  maxTotalBytes: 256 * 1024 ** 3,
  maxDepth: 64,
  maxPathLength: 4096,
};

function refuse(reason: string): never {
  throw new WqError('input', `Refusing the dom0 home archive: ${reason}`);
}

/**
 * One UNTRUSTED entry path, normalised; undefined for the root. Absolute paths, `..`, control
 * characters, over-long or over-deep paths refuse the whole archive.
 */
export function checkHomeEntryPath(raw: string, limits: HomeLimits = DEFAULT_HOME_LIMITS): string | undefined {
  if (raw.includes('\uFFFD') || /[\x00-\x1f\x7f]/.test(raw)) refuse(`entry name '${printable(raw)}' is not clean text`);
  if (raw.length > limits.maxPathLength) refuse(`entry name longer than ${limits.maxPathLength} characters`);
  if (raw.startsWith('/')) refuse(`absolute path '${printable(raw)}'`);
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) return undefined;
  if (segments.includes('..')) refuse(`path with '..': '${printable(raw)}'`);
  if (segments.length > limits.maxDepth) refuse(`entry '${printable(raw)}' nested deeper than ${limits.maxDepth}`);
  return segments.join('/');
}
