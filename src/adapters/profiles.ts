import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CORE_SCHEMA, load as loadYaml, YAMLException } from 'js-yaml';
import { WqError } from '../core/errors.ts';
import { printable } from '../core/names.ts';
import {
  formatProblem,
  validateProfilesDocument,
  type Profile,
  type ProfileProblem,
  type ProfilesFile,
} from '../core/profiles.ts';

/**
 * Reads `<config dir>/profiles.yaml` (js-yaml, core schema: plain data only, duplicate keys
 * refused) and a profile's passphrase. The file may hold commands that run as root
 * (passphrase_command, hooks), so it must not be writable by group or others.
 */
export const PROFILES_FILE = 'profiles.yaml';
const MAX_PROFILES_BYTES = 1024 * 1024;
const MAX_PASSPHRASE_BYTES = 4096;
const PASSPHRASE_COMMAND_TIMEOUT_MS = 60_000;

export interface ProfilesReading {
  file: string;
  exists: boolean;
  profiles: Record<string, Profile>;
  problems: ProfileProblem[];
}

/** Opens a regular file without following a final symlink and reads at most `limit` bytes. */
function readRegularFile(path: string, limit: number, what: string, check: (st: Stats) => string | undefined): Buffer;
function readRegularFile(
  path: string,
  limit: number,
  what: string,
  check: (st: Stats) => string | undefined,
  allowMissing: true,
): Buffer | undefined;
function readRegularFile(
  path: string,
  limit: number,
  what: string,
  check: (st: Stats) => string | undefined,
  allowMissing = false,
): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && allowMissing) return undefined;
    if (code === 'ELOOP') throw new WqError('config', `Refusing the ${what} '${path}': it is a symbolic link.`);
    throw new WqError('config', `Cannot open ${what} '${path}': ${code ?? (err as Error).message}.`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new WqError('config', `Refusing the ${what} '${path}': not a regular file.`);
    const problem = check(st);
    if (problem !== undefined) throw new WqError('config', `Refusing the ${what} '${path}': it ${problem}.`);
    if (st.size > limit) throw new WqError('config', `Refusing the ${what} '${path}': larger than ${limit} bytes.`);
    const buf = Buffer.alloc(limit + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > limit) throw new WqError('config', `Refusing the ${what} '${path}': larger than ${limit} bytes.`);
    }
    return buf.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}

function ownerProblem(st: Stats): string | undefined {
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  if (st.uid !== 0 && st.uid !== euid) return `is owned by uid ${st.uid} (expected root or the current user)`;
  return undefined;
}

/** Reads and validates profiles.yaml; a missing file is reported as `exists: false`. */
export function readProfiles(configDir: string): ProfilesReading {
  const file = join(configDir, PROFILES_FILE);
  const bytes = readRegularFile(
    file,
    MAX_PROFILES_BYTES,
    'profiles file',
    (st) => ((st.mode & 0o022) !== 0 ? 'is writable by group or others (chmod go-w)' : ownerProblem(st)),
    true,
  );
  if (bytes === undefined) return { file, exists: false, profiles: {}, problems: [] };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { file, exists: true, profiles: {}, problems: [{ message: 'is not valid UTF-8' }] };
  }
  let doc: unknown;
  try {
    doc = loadYaml(text, { schema: CORE_SCHEMA, filename: file });
  } catch (err) {
    const message =
      err instanceof YAMLException
        ? `YAML error: ${err.reason} (line ${err.mark.line + 1}, column ${err.mark.column + 1})`
        : String(err);
    return { file, exists: true, profiles: {}, problems: [{ message }] };
  }
  const { profiles, problems } = validateProfilesDocument(doc);
  return { file, exists: true, profiles, problems };
}

/** All profiles, or a `config` error naming file, profile and field of the first problems. */
export function loadProfiles(configDir: string): ProfilesFile {
  const r = readProfiles(configDir);
  if (!r.exists) throw new WqError('config', `No profiles file: '${r.file}' does not exist.`);
  if (r.problems.length > 0) {
    const shown = r.problems.slice(0, 5).map((p) => formatProblem(r.file, p));
    const more = r.problems.length > 5 ? ` (and ${r.problems.length - 5} more)` : '';
    throw new WqError('config', `Invalid profiles file: ${shown.join('; ')}${more}`);
  }
  return { file: r.file, profiles: r.profiles };
}

/**
 * One profile by name. Validated per profile: a problem of another profile does not stop this
 * one; a problem of this one (or of the whole file) is a `config` error naming profile and field;
 * unknown names are a `config` error.
 */
export function loadProfile(configDir: string, name: string): { file: string; profile: Profile } {
  const r = readProfiles(configDir);
  if (!r.exists) throw new WqError('config', `No profiles file: '${r.file}' does not exist.`);
  const fileWide = r.problems.filter((p) => p.profile === undefined);
  if (fileWide.length > 0) {
    throw new WqError('config', `Invalid profiles file: ${fileWide.map((p) => formatProblem(r.file, p)).join('; ')}`);
  }
  const own = r.problems.filter((p) => p.profile === name);
  if (own.length > 0) {
    const shown = own.slice(0, 5).map((p) => formatProblem(r.file, p));
    const more = own.length > 5 ? ` (and ${own.length - 5} more)` : '';
    throw new WqError('config', `Profile '${name}' cannot be used: ${shown.join('; ')}${more}`);
  }
  const profile = Object.hasOwn(r.profiles, name) ? r.profiles[name] : undefined;
  if (profile === undefined) throw new WqError('config', `Unknown profile '${printable(name)}' (not in ${r.file}).`);
  return { file: r.file, profile };
}

function stripNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/**
 * The archive passphrase of a profile, or undefined when it has none. From `passphrase_file`
 * (a regular file, not a symlink, no group/other permissions) or `passphrase_command`
 * (an argv list run without a shell; its stdout). Never logged, never put in argv.
 */
export async function readPassphrase(profile: Profile, name: string): Promise<string | undefined> {
  let secret: string;
  if (profile.passphrase_file !== undefined) {
    const bytes = readRegularFile(
      profile.passphrase_file,
      MAX_PASSPHRASE_BYTES,
      `passphrase file of profile '${name}'`,
      (st) => {
        if ((st.mode & 0o066) !== 0) return 'is readable or writable by group or others (chmod 600)';
        return ownerProblem(st);
      },
    );
    secret = stripNewline(bytes.toString('utf8'));
  } else if (profile.passphrase_command !== undefined) {
    const [program, ...args] = profile.passphrase_command as [string, ...string[]];
    const r = await execa(program, args, {
      reject: false,
      shell: false,
      stdin: 'ignore',
      stderr: 'pipe',
      timeout: PASSPHRASE_COMMAND_TIMEOUT_MS,
      maxBuffer: MAX_PASSPHRASE_BYTES,
      extendEnv: false,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    if (r.failed || r.exitCode !== 0) {
      const why = r.timedOut
        ? 'timed out'
        : r.exitCode !== undefined
          ? `exit ${r.exitCode}`
          : r.isMaxBuffer
            ? 'too much output'
            : 'could not start';
      throw new WqError('config', `The passphrase_command of profile '${name}' failed (${why}).`);
    }
    secret = stripNewline(String(r.stdout));
  } else {
    return undefined;
  }
  if (secret.length === 0) throw new WqError('config', `The passphrase of profile '${name}' is empty.`);
  if (/[\0\n]/.test(secret))
    throw new WqError('config', `The passphrase of profile '${name}' contains a newline or NUL.`);
  return secret;
}
