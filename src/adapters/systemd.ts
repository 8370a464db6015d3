/**
 * The systemd side of scheduled backups: the shipped template units
 * `wyng-qubes-backup@.service` / `wyng-qubes-backup@.timer`, one timer instance per profile,
 * and the per-profile `OnCalendar=` drop-in
 * `<systemd dir>/wyng-qubes-backup@PROFILE.timer.d/schedule.conf`.
 *
 * Programs and locations come from the environment (tests point them at stubs):
 *   WYNG_QUBES_SYSTEMCTL        systemctl program (default: systemctl on PATH)
 *   WYNG_QUBES_SYSTEMD_ANALYZE  systemd-analyze program (default: on PATH; absent → skipped)
 *   WYNG_QUBES_SYSTEMD_DIR      unit directory for drop-ins (default /etc/systemd/system)
 */
import { mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Env } from '../core/config.ts';
import { WqError } from '../core/errors.ts';
import { writeFileAtomic } from './fs/atomic.ts';

export const DROPIN_FILE = 'schedule.conf';

const SYSTEMCTL_TIMEOUT_MS = 60_000;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SystemdSettings {
  systemctl: string;
  systemdAnalyze: string;
  unitDir: string;
  /** PATH for the programs (the caller's, else a safe default). */
  path: string;
}

export function systemdSettings(env: Env): SystemdSettings {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  return {
    systemctl: nonEmpty(env.WYNG_QUBES_SYSTEMCTL) ?? 'systemctl',
    systemdAnalyze: nonEmpty(env.WYNG_QUBES_SYSTEMD_ANALYZE) ?? 'systemd-analyze',
    unitDir: nonEmpty(env.WYNG_QUBES_SYSTEMD_DIR) ?? '/etc/systemd/system',
    path: nonEmpty(env.PATH) ?? SAFE_PATH,
  };
}

export function timerUnit(profile: string): string {
  return `wyng-qubes-backup@${profile}.timer`;
}

export function dropinPath(settings: SystemdSettings, profile: string): string {
  return join(settings.unitDir, `${timerUnit(profile)}.d`, DROPIN_FILE);
}

/** The drop-in text: the empty assignment clears the template's default OnCalendar. */
export function dropinText(profile: string, schedule: string): string {
  return [
    `# Written by "wyng-qubes schedule enable ${profile}" from the profile's schedule.`,
    '# Change the schedule in /etc/wyng-qubes/profiles.yaml and run that command again.',
    '[Timer]',
    'OnCalendar=',
    `OnCalendar=${schedule}`,
    '',
  ].join('\n');
}

/** The schedule a drop-in sets, if any (for `schedule list`). */
export function readDropinSchedule(settings: SystemdSettings, profile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(dropinPath(settings, profile), 'utf8');
  } catch {
    return undefined;
  }
  const values = [...text.matchAll(/^OnCalendar=(.*)$/gm)].map((m) => m[1]!.trim()).filter((v) => v !== '');
  return values.at(-1);
}

/** The drop-in's text, undefined when there is none (kept by `schedule enable` to undo its change). */
export function readDropin(settings: SystemdSettings, profile: string): string | undefined {
  try {
    return readFileSync(dropinPath(settings, profile), 'utf8');
  } catch {
    return undefined;
  }
}

/** Puts back the drop-in `readDropin` returned (none: removes it and its empty directory). */
export function restoreDropin(settings: SystemdSettings, profile: string, previous: string | undefined): void {
  if (previous === undefined) {
    removeDropin(settings, profile);
    return;
  }
  writeDropinText(settings, profile, previous);
}

export function writeDropin(settings: SystemdSettings, profile: string, schedule: string): string {
  return writeDropinText(settings, profile, dropinText(profile, schedule));
}

function writeDropinText(settings: SystemdSettings, profile: string, text: string): string {
  const path = dropinPath(settings, profile);
  const dir = join(settings.unitDir, `${timerUnit(profile)}.d`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileAtomic(path, text, { mode: 0o644 });
  } catch (err) {
    throw new WqError('config', `Cannot write the schedule drop-in '${path}': ${(err as Error).message}`);
  }
  return path;
}

/** Removes the drop-in (and its directory when empty); true when there was one. */
export function removeDropin(settings: SystemdSettings, profile: string): boolean {
  const path = dropinPath(settings, profile);
  let existed = true;
  try {
    readFileSync(path);
  } catch {
    existed = false;
  }
  try {
    rmSync(path, { force: true });
  } catch (err) {
    throw new WqError('config', `Cannot remove the schedule drop-in '${path}': ${(err as Error).message}`);
  }
  try {
    rmdirSync(join(settings.unitDir, `${timerUnit(profile)}.d`));
  } catch {
    // not empty (other drop-ins of the admin's) or absent: leave it
  }
  return existed;
}

export interface ProgramResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function runProgram(
  program: string,
  args: string[],
  settings: SystemdSettings,
  what: string,
): Promise<ProgramResult> {
  const r = await execa(program, args, {
    reject: false,
    shell: false,
    stdin: 'ignore',
    timeout: SYSTEMCTL_TIMEOUT_MS,
    maxBuffer: 1024 * 1024,
    extendEnv: false,
    env: { PATH: settings.path, LANG: 'C.UTF-8', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' },
    encoding: 'utf8',
  });
  if (r.exitCode === undefined) {
    const why = r.timedOut ? 'timed out' : r.cause instanceof Error ? r.cause.message : r.shortMessage;
    throw new WqError('config', `Cannot run ${what} '${program}': ${why}`);
  }
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export async function systemctl(settings: SystemdSettings, args: string[]): Promise<ProgramResult> {
  return runProgram(settings.systemctl, args, settings, 'systemctl');
}

/** `systemctl ARGS` that must succeed; its stderr becomes the error message. */
export async function systemctlOrFail(settings: SystemdSettings, args: string[]): Promise<ProgramResult> {
  const r = await systemctl(settings, args);
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.exitCode}`;
    throw new WqError('config', `systemctl ${args.join(' ')} failed: ${why}`);
  }
  return r;
}

/** The timer's state from `systemctl show` (key=value lines). */
export interface TimerState {
  unitFileState: string;
  activeState: string;
  nextElapse: string | null;
  lastTrigger: string | null;
}

export function parseShow(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export async function timerState(settings: SystemdSettings, profile: string): Promise<TimerState> {
  const r = await systemctlOrFail(settings, [
    'show',
    '--property=UnitFileState,ActiveState,NextElapseUSecRealtime,LastTriggerUSec',
    timerUnit(profile),
  ]);
  const kv = parseShow(r.stdout);
  const time = (v: string | undefined): string | null =>
    v === undefined || v === '' || v === 'n/a' || v === '0' ? null : v;
  return {
    unitFileState: kv.UnitFileState || 'unknown',
    activeState: kv.ActiveState || 'unknown',
    nextElapse: time(kv.NextElapseUSecRealtime),
    lastTrigger: time(kv.LastTriggerUSec),
  };
}

/**
 * `systemd-analyze calendar EXPR` when the program exists: undefined when it accepts the
 * expression (or is absent), else its complaint.
 */
export async function analyzeCalendar(
  settings: SystemdSettings,
  expression: string,
): Promise<{ checked: boolean; problem?: string }> {
  let r: ProgramResult;
  try {
    r = await runProgram(settings.systemdAnalyze, ['calendar', expression], settings, 'systemd-analyze');
  } catch {
    return { checked: false };
  }
  if (r.exitCode === 0) return { checked: true };
  const why = (r.stderr.trim() || r.stdout.trim()).split('\n').at(-1) ?? `exit ${r.exitCode}`;
  return { checked: true, problem: why };
}
