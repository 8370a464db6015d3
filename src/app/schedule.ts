import { readProfiles, loadProfile } from '../adapters/profiles.ts';
import {
  analyzeCalendar,
  dropinPath,
  readDropin,
  readDropinSchedule,
  removeDropin,
  restoreDropin,
  systemctl,
  systemctlOrFail,
  systemdSettings,
  timerState,
  timerUnit,
  writeDropin,
  type SystemdSettings,
} from '../adapters/systemd.ts';
import { checkCalendar } from '../core/calendar.ts';
import { printable } from '../core/names.ts';
import { WqError, toWqError } from '../core/errors.ts';
import { PROFILE_NAME } from '../core/profiles.ts';
import type { AppContext, UseCase } from './ports.ts';

const USAGE = 'usage: wyng-qubes schedule enable PROFILE | disable PROFILE | list [PROFILE] [--json]';

/** The template timer's own calendar (packaging/systemd/wyng-qubes-backup@.timer). */
export const DEFAULT_SCHEDULE = 'daily';

function profileArg(name: string | undefined, sub: string): string {
  if (name === undefined) throw new WqError('option', `schedule ${sub} needs a PROFILE. ${USAGE}`);
  if (!PROFILE_NAME.test(name)) {
    throw new WqError(
      'option',
      `invalid profile name '${printable(name)}': ` + 'use 1-64 of a-z, 0-9, "_", "-", starting with a letter or digit',
    );
  }
  return name;
}

/** Our own check first (clear messages), then systemd's, where it is installed. */
export async function validateSchedule(
  settings: SystemdSettings,
  profile: string,
  schedule: string,
): Promise<{ analyzed: boolean }> {
  const own = checkCalendar(schedule);
  if (!own.ok)
    throw new WqError(
      'config',
      `Profile '${profile}': schedule '${schedule}' is not a valid systemd calendar expression: ${own.problem}.`,
    );
  const systemd = await analyzeCalendar(settings, schedule);
  if (systemd.problem !== undefined) {
    throw new WqError(
      'config',
      `Profile '${profile}': schedule '${schedule}' is refused by systemd-analyze calendar: ${systemd.problem}`,
    );
  }
  return { analyzed: systemd.checked };
}

async function enable(ctx: AppContext, settings: SystemdSettings, name: string) {
  const { file, profile } = loadProfile(ctx.config.configDir, name);
  const schedule = profile.schedule;
  let dropin: string | null = null;
  let analyzed = false;
  if (schedule !== undefined) analyzed = (await validateSchedule(settings, name, schedule)).analyzed;
  // All or nothing: when systemd refuses, the drop-in is put back as it was and systemd reloaded.
  const previous = readDropin(settings, name);
  try {
    if (schedule !== undefined) {
      dropin = writeDropin(settings, name, schedule);
    } else {
      removeDropin(settings, name);
    }
    await systemctlOrFail(settings, ['daemon-reload']);
    await systemctlOrFail(settings, ['enable', '--now', timerUnit(name)]);
  } catch (err) {
    const e = toWqError(err);
    restoreDropin(settings, name, previous);
    await systemctl(settings, ['daemon-reload']).catch(() => undefined);
    throw new WqError(e.kind, `${e.message} (nothing was changed: the timer's schedule is as before)`, { cause: e });
  }
  if (schedule === undefined) {
    ctx.warn(`Profile '${name}' in ${file} has no schedule; the timer uses its default (${DEFAULT_SCHEDULE}).`);
  }
  const effective = schedule ?? DEFAULT_SCHEDULE;
  ctx.say(`Enabled ${timerUnit(name)}: backs up profile '${name}' on '${effective}' (missed runs catch up at boot).`);
  return {
    exitCode: 0,
    result: { action: 'enable', profile: name, timer: timerUnit(name), schedule: effective, dropin, analyzed },
    errors: [],
  };
}

async function disable(ctx: AppContext, settings: SystemdSettings, name: string) {
  // The profile need not exist any more: a timer of a removed profile can still be disabled.
  await systemctlOrFail(settings, ['disable', '--now', timerUnit(name)]);
  const removed = removeDropin(settings, name);
  await systemctlOrFail(settings, ['daemon-reload']);
  ctx.say(`Disabled ${timerUnit(name)}${removed ? ` and removed ${dropinPath(settings, name)}` : ''}.`);
  return {
    exitCode: 0,
    result: { action: 'disable', profile: name, timer: timerUnit(name), dropinRemoved: removed },
    errors: [],
  };
}

async function list(ctx: AppContext, settings: SystemdSettings, only: string | undefined) {
  const reading = readProfiles(ctx.config.configDir);
  let names = Object.keys(reading.profiles).sort();
  if (only !== undefined) {
    if (!names.includes(only)) throw new WqError('config', `Unknown profile '${only}' (not in ${reading.file}).`);
    names = [only];
  }
  const timers = [];
  for (const name of names) {
    const p = reading.profiles[name]!;
    const state = await timerState(settings, name);
    const installed = readDropinSchedule(settings, name);
    const enabled = state.unitFileState === 'enabled';
    const entry = {
      profile: name,
      timer: timerUnit(name),
      schedule: p.schedule ?? null,
      installedSchedule: installed ?? (enabled ? DEFAULT_SCHEDULE : null),
      enabled,
      active: state.activeState === 'active',
      nextRun: state.nextElapse,
      lastRun: state.lastTrigger,
      // The profile's schedule changed since `schedule enable`: run it again.
      stale: enabled && (p.schedule ?? DEFAULT_SCHEDULE) !== (installed ?? DEFAULT_SCHEDULE),
    };
    timers.push(entry);
  }
  if (names.length === 0) ctx.say(`No profiles in ${reading.file}.`);
  for (const t of timers) {
    const status = t.enabled ? (t.active ? 'enabled' : 'enabled (inactive)') : 'disabled';
    const lines = [
      `${t.profile}: ${status}`,
      `  schedule: ${t.schedule ?? `(none; timer default ${DEFAULT_SCHEDULE})`}`,
    ];
    if (t.enabled) lines.push(`  next run: ${t.nextRun ?? '-'}`, `  last run: ${t.lastRun ?? '-'}`);
    if (t.stale)
      lines.push(`  the timer still uses '${t.installedSchedule}': run "wyng-qubes schedule enable ${t.profile}"`);
    ctx.say(lines.join('\n'));
  }
  for (const p of reading.problems)
    ctx.warn(`${reading.file}: ${p.profile !== undefined ? `profile '${p.profile}': ` : ''}${p.message}`);
  return { exitCode: 0, result: { file: reading.file, timers }, errors: [] };
}

/**
 * `schedule enable PROFILE` writes the profile's `schedule` as an OnCalendar drop-in of
 * `wyng-qubes-backup@PROFILE.timer` and enables the timer; `disable` undoes both;
 * `list` shows every profile's timer.
 */
export const scheduleUseCase: UseCase = async (ctx) => {
  const [sub = 'list', positional, ...extra] = ctx.args;
  if (extra.length > 0) throw new WqError('option', USAGE);
  if (positional !== undefined && ctx.options.profile !== undefined && positional !== ctx.options.profile) {
    throw new WqError(
      'option',
      `two different profiles given ('${positional}' and --profile ${ctx.options.profile}). ${USAGE}`,
    );
  }
  const name = positional ?? ctx.options.profile;
  const settings = systemdSettings(ctx.io.env);
  switch (sub) {
    case 'enable':
      return enable(ctx, settings, profileArg(name, sub));
    case 'disable':
      return disable(ctx, settings, profileArg(name, sub));
    case 'list':
      return list(ctx, settings, name === undefined ? undefined : profileArg(name, sub));
    default:
      throw new WqError('option', `unknown schedule action '${printable(sub)}'. ${USAGE}`);
  }
};
