import { readPassphrase, readProfiles } from '../adapters/profiles.ts';
import { exitCodeFor, WqError, type ErrorRecord } from '../core/errors.ts';
import { formatProblem, profileWarnings, publicProfile, type ProfileProblem } from '../core/profiles.ts';
import type { UseCase } from './ports.ts';

function problemRecords(file: string, problems: ProfileProblem[]): ErrorRecord[] {
  return problems.map((p) => ({ kind: 'config', message: formatProblem(file, p) }));
}

/**
 * `profiles [--json]` lists the profiles of profiles.yaml (never a secret);
 * `profiles check` validates the file, and each profile's passphrase file.
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
    for (const name of names) {
      const p = reading.profiles[name]!;
      if (p.passphrase_file === undefined) continue;
      try {
        await readPassphrase(p, name);
      } catch (err) {
        problems.push({ profile: name, field: 'passphrase_file', message: (err as Error).message });
      }
    }
    const warnings = names.flatMap((n) => profileWarnings(n, reading.profiles[n]!));
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
    ctx.say(`${n}\n  dest:    ${p.dest}\n  qubes:   ${sel}\n  remote:  ${ops}`);
  }
  for (const p of reading.problems) ctx.warn(formatProblem(reading.file, p));
  const result = { file: reading.file, exists: reading.exists, profiles };
  return reading.problems.length === 0
    ? { exitCode: 0, result, errors: [] }
    : { exitCode: exitCodeFor('config'), result, errors: problemRecords(reading.file, reading.problems) };
};
