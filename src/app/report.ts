import { listReportFiles, NO_PROFILE, readReport, type Report } from '../adapters/reports.ts';
import { printable } from '../core/names.ts';
import { WqError } from '../core/errors.ts';
import { PROFILE_NAME } from '../core/profiles.ts';
import { renderReport, renderSummary, summarizeReports } from '../core/reports.ts';
import type { UseCase } from './ports.ts';

const USAGE = 'usage: wyng-qubes report [--last] [--json] [PROFILE]';

/**
 * `report [PROFILE]`: per profile the last success, last failure, sizes and durations, from
 * the reports in <state dir>/reports/. `--last`: the newest report (of PROFILE) in full.
 */
export const reportUseCase: UseCase = async (ctx) => {
  const [positional, ...extra] = ctx.args;
  if (extra.length > 0) throw new WqError('option', USAGE);
  if (positional !== undefined && ctx.options.profile !== undefined && positional !== ctx.options.profile) {
    throw new WqError(
      'option',
      `two different profiles given ('${positional}' and --profile ${ctx.options.profile}). ${USAGE}`,
    );
  }
  const profile = positional ?? ctx.options.profile;
  if (profile !== undefined && profile !== NO_PROFILE && !PROFILE_NAME.test(profile)) {
    throw new WqError('option', `invalid profile name '${printable(profile)}'. ${USAGE}`);
  }
  const stateDir = ctx.config.stateDir;
  const files = listReportFiles(stateDir).filter((f) => profile === undefined || f.profile === profile);
  const unreadable: string[] = [];
  const read = (file: string): Report | undefined => {
    const r = readReport(stateDir, file);
    if (r === undefined) unreadable.push(file);
    return r;
  };

  if (ctx.options.last) {
    let newest: Report | undefined;
    for (const f of [...files].reverse()) {
      newest = read(f.file);
      if (newest !== undefined) break;
    }
    for (const f of unreadable) ctx.warn(`warning: report ${f} is unreadable; skipped`);
    if (newest === undefined) {
      throw new WqError(
        'selection',
        profile === undefined ? 'No reports yet.' : `No reports for profile '${profile}'.`,
      );
    }
    ctx.say(renderReport(newest));
    return { exitCode: 0, result: { report: newest }, errors: [] };
  }

  const reports = files.map((f) => read(f.file)).filter((r): r is Report => r !== undefined);
  for (const f of unreadable) ctx.warn(`warning: report ${f} is unreadable; skipped`);
  const profiles = summarizeReports(reports);
  ctx.say(
    profile !== undefined && reports.length === 0 ? `No reports for profile '${profile}'.` : renderSummary(profiles),
  );
  return { exitCode: 0, result: { dir: `${stateDir}/reports`, profiles }, errors: [] };
};
