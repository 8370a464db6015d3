import { readPassphrase, readProfiles } from '../adapters/profiles.ts';
import { openLiveSystem } from '../adapters/qubesd/index.ts';
import { analyzeCalendar, systemdSettings } from '../adapters/systemd.ts';
import { exitCodeFor, WqError, type ErrorRecord } from '../core/errors.ts';
import { formatProblem, profileCheck, profileWarnings, publicProfile, type ProfileProblem } from '../core/profiles.ts';
import type { AppContext, UseCase } from './ports.ts';

function problemRecords(file: string, problems: ProfileProblem[]): ErrorRecord[] {
  return problems.map((p) => ({ kind: 'config', message: formatProblem(file, p) }));
}

/** The names of the qubes qubesd lists (to check the profiles' qubes), or why it could not be asked. */
async function liveQubeNames(ctx: AppContext): Promise<{ names?: Set<string>; problem?: string }> {
  try {
    const qubes = await openLiveSystem(ctx.config).listQubes();
    return { names: new Set(qubes.map((q) => q.name)) };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/**
 * `profiles [--json]` lists the usable profiles of profiles.yaml (never a secret) with their
 * schedule, qubes and excludes, and names the broken ones; `profiles check` validates the file
 * per profile, each profile's passphrase file and schedule, and that its qubes exist.
 */
export const profilesUseCase: UseCase = async (ctx) => {
  const [sub, ...extra] = ctx.args;
  if (extra.length > 0 || (sub !== undefined && sub !== 'list' && sub !== 'check')) {
    throw new WqError('option', 'usage: wyng-qubes profiles [list | check] [--json]');
  }
  const reading = readProfiles(ctx.config.configDir);
  const names = Object.keys(reading.profiles).sort();

  if (sub === 'check') {
    if (!reading.exists) throw new WqError('config', `No profiles file: '${reading.file}' does not exist.`);
    const problems = [...reading.problems];
    const warnings = names.flatMap((n) => profileWarnings(n, reading.profiles[n]!));
    const live = await liveQubeNames(ctx);
    if (live.problem !== undefined) {
      warnings.push({ message: `cannot check that the profiles' qubes exist: ${live.problem}` });
    }
    const settings = systemdSettings(ctx.io.env);
    for (const name of names) {
      const p = reading.profiles[name]!;
      const checked = profileCheck(name, p, live.names);
      problems.push(...checked.problems);
      warnings.push(...checked.warnings);
      // systemd has the last word on a schedule, where systemd-analyze is installed (as schedule enable).
      if (p.schedule !== undefined && checked.problems.every((x) => x.field !== 'schedule')) {
        const systemd = await analyzeCalendar(settings, p.schedule);
        if (systemd.problem !== undefined) {
          problems.push({
            profile: name,
            field: 'schedule',
            message: `refused by systemd-analyze calendar: ${systemd.problem}`,
          });
        }
      }
      if (p.passphrase_file === undefined) continue;
      try {
        await readPassphrase(p, name);
      } catch (err) {
        problems.push({ profile: name, field: 'passphrase_file', message: (err as Error).message });
      }
    }
    for (const w of warnings) ctx.warn(`warning: ${formatProblem(reading.file, w)}`);
    for (const p of problems) ctx.warn(formatProblem(reading.file, p));
    const valid = problems.length === 0;
    ctx.say(
      valid ? `${reading.file}: ${names.length} profile(s), valid.` : `${reading.file}: ${problems.length} problem(s).`,
    );
    const result = {
      file: reading.file,
      valid,
      profiles: names,
      problems: problems.map((p) => formatProblem(reading.file, p)),
      warnings: warnings.map((w) => formatProblem(reading.file, w)),
    };
    return valid
      ? { exitCode: 0, result, errors: [] }
      : { exitCode: exitCodeFor('config'), result, errors: problemRecords(reading.file, problems) };
  }

  const profiles = names.map((n) => publicProfile(n, reading.profiles[n]!));
  if (!reading.exists) ctx.say(`No profiles (${reading.file} does not exist).`);
  for (const n of names) {
    const p = reading.profiles[n]!;
    const sel = [...p.qubes, ...(p.includes ? ['(includes)'] : [])].join(', ') || '(none)';
    const ops = p.remote.operations.join(', ') || '(none)';
    const lines = [
      n,
      `  dest:     ${p.dest}`,
      `  qubes:    ${sel}`,
      `  exclude:  ${p.exclude.join(', ') || '(none)'}`,
      `  schedule: ${p.schedule ?? '(none: no timer schedule)'}`,
      `  remote:   ${ops}`,
    ];
    ctx.say(lines.join('\n'));
  }
  for (const p of reading.problems) ctx.warn(formatProblem(reading.file, p));
  const result = { file: reading.file, exists: reading.exists, profiles };
  return reading.problems.length === 0
    ? { exitCode: 0, result, errors: [] }
    : { exitCode: exitCodeFor('config'), result, errors: problemRecords(reading.file, reading.problems) };
};
