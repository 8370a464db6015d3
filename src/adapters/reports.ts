import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { writeFileAtomic } from './fs/atomic.ts';

/**
 * Job reports in `<state dir>/reports/`: one JSON file per finished job, named
 * `<UTC stamp>-<profile>-<operation>.json` so that name order is time order. Written
 * atomically (temp file + rename); at most MAX_PER_PROFILE are kept per profile and
 * MAX_TOTAL in all (the oldest go first). Runs without a profile are filed under NO_PROFILE,
 * a name no profile can have.
 */
export const REPORTS_DIR = 'reports';
export const NO_PROFILE = '_none';
export const MAX_PER_PROFILE = 100;
export const MAX_TOTAL = 1000;
const MAX_REPORT_BYTES = 4 * 1024 * 1024;

/** What a hook command did (profile `hooks.before` / `hooks.after`). */
export const HookRecordSchema = z.object({
  argv0: z.string(),
  ok: z.boolean(),
  exitCode: z.number().nullable(),
  timedOut: z.boolean(),
  durationMs: z.number(),
  /** The end of its stdout and stderr, for the report. */
  output: z.string(),
});
export type HookRecord = z.output<typeof HookRecordSchema>;

export const ReportSchema = z.object({
  version: z.literal(1),
  profile: z.string(),
  operation: z.string(),
  command: z.string(),
  source: z.enum(['rpc', 'cli', 'timer', 'salt']),
  caller: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  ok: z.boolean(),
  exitCode: z.number(),
  result: z.unknown(),
  errors: z.array(z.object({ kind: z.string(), message: z.string(), qube: z.string().optional() })),
  /** restore --dry-run: a plan only, nothing changed. */
  dryRun: z.boolean().optional(),
  hooks: z.object({ before: HookRecordSchema.optional(), after: HookRecordSchema.optional() }).optional(),
});
export type Report = z.output<typeof ReportSchema>;

const NAME = /^(\d{8}T\d{6}\d{3}Z)-(_none|[a-z0-9][a-z0-9_-]{0,63})-([A-Za-z]+)\.json$/;

function stamp(iso: string): string {
  return iso.replace(/[-:]/g, '').replace('.', '');
}

export function reportFileName(report: Pick<Report, 'startedAt' | 'profile' | 'operation'>): string {
  return `${stamp(report.startedAt)}-${report.profile}-${report.operation}.json`;
}

export function writeReport(stateDir: string, report: Report): string {
  const dir = join(stateDir, REPORTS_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = reportFileName(report);
  const path = join(dir, name);
  writeFileAtomic(path, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  rotateReports(stateDir, report.profile);
  return path;
}

/** Keeps the newest MAX_PER_PROFILE of `profile` and the newest MAX_TOTAL in all. */
function rotateReports(stateDir: string, profile: string): void {
  const dir = join(stateDir, REPORTS_DIR);
  const mine = listReportFiles(stateDir).filter((f) => f.profile === profile);
  for (const old of mine.slice(0, Math.max(0, mine.length - MAX_PER_PROFILE)))
    rmSync(join(dir, old.file), { force: true });
  const all = listReportFiles(stateDir);
  for (const old of all.slice(0, Math.max(0, all.length - MAX_TOTAL))) rmSync(join(dir, old.file), { force: true });
}

interface ReportFile {
  file: string;
  stamp: string;
  profile: string;
  operation: string;
}

/** Report files, oldest first. */
export function listReportFiles(stateDir: string): ReportFile[] {
  let names: string[];
  try {
    names = readdirSync(join(stateDir, REPORTS_DIR));
  } catch {
    return [];
  }
  const out: ReportFile[] = [];
  for (const file of names) {
    const m = NAME.exec(file);
    if (m !== null) out.push({ file, stamp: m[1]!, profile: m[2]!, operation: m[3]! });
  }
  return out.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.file.localeCompare(b.file)));
}

export function readReport(stateDir: string, file: string): Report | undefined {
  try {
    const text = readFileSync(join(stateDir, REPORTS_DIR, file), 'utf8');
    if (text.length > MAX_REPORT_BYTES) return undefined;
    const parsed = ReportSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The newest readable report of each profile. */
export function lastReports(stateDir: string): Record<string, Report> {
  const out: Record<string, Report> = {};
  const files = listReportFiles(stateDir).reverse();
  for (const f of files) {
    if (Object.hasOwn(out, f.profile)) continue;
    const r = readReport(stateDir, f.file);
    if (r !== undefined) out[f.profile] = r;
  }
  return out;
}
