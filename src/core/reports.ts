/**
 * Pure logic around job reports (the files themselves are in src/adapters/reports.ts):
 * which commands are reported, the operation name of a command, when to notify, the
 * notification text, and the per-profile summary that `wyng-qubes report` shows.
 */
import type { CommandName } from './options.ts';

/** The commands whose every run leaves a report. */
export const REPORTED_COMMANDS: ReadonlySet<CommandName> = new Set(['backup', 'restore', 'verify', 'prune']);

export const REPORT_SOURCES = ['cli', 'rpc', 'timer', 'salt'] as const;
export type ReportSource = (typeof REPORT_SOURCES)[number];

/** Who started a run; RPC runs also name the calling qube. */
export interface RunOrigin {
  source: ReportSource;
  caller?: string;
}

/**
 * The origin of a run that does not say: `WYNG_QUBES_RUN_SOURCE` (the systemd service sets
 * `timer`; a Salt setup can set `salt` through `wyng_qubes:env`), else `cli`.
 */
export function originFromEnv(env: Readonly<Record<string, string | undefined>>): RunOrigin {
  const s = env.WYNG_QUBES_RUN_SOURCE;
  return { source: s !== undefined && (REPORT_SOURCES as readonly string[]).includes(s) ? (s as ReportSource) : 'cli' };
}

/** `backup` → `Backup` (the same names as the RPC operations). */
export function operationOf(command: string): string {
  return command.charAt(0).toUpperCase() + command.slice(1);
}

export type DesktopMode = 'never' | 'failure' | 'always';

export function shouldNotifyDesktop(mode: DesktopMode | undefined, ok: boolean): boolean {
  return mode === 'always' || (mode === 'failure' && !ok);
}

/** The part of a report the pure functions need (the adapter's Report is wider). */
export interface ReportView {
  profile: string;
  operation: string;
  command: string;
  source: string;
  caller?: string | undefined;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  ok: boolean;
  exitCode: number;
  result: unknown;
  errors: ReadonlyArray<{ kind: string; message: string; qube?: string | undefined }>;
  dryRun?: boolean | undefined;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Bytes Wyng sent (backup), when the result says. */
export function bytesOf(r: ReportView): number | undefined {
  const b = record(r.result)?.bytesSent;
  return typeof b === 'number' && Number.isFinite(b) && b >= 0 ? b : undefined;
}

/** A run the user cancelled at the prompt (`result.cancelled`): it did nothing, so it is no success. */
export function cancelledOf(r: ReportView): boolean {
  return record(r.result)?.cancelled === true;
}

/** The archive session a run made or used, when the result says. */
export function sessionOf(r: ReportView): string | undefined {
  const s = record(r.result)?.session;
  return typeof s === 'string' ? s : undefined;
}

/** Qubes by status from a result's `qubes: [{ name, status }]`, when present. */
export function qubeCounts(r: ReportView): { ok: number; failed: number } | undefined {
  const qubes = record(r.result)?.qubes;
  if (!Array.isArray(qubes)) return undefined;
  let ok = 0;
  let failed = 0;
  for (const q of qubes) {
    const status = record(q)?.status;
    if (status === 'ok') ok += 1;
    else if (status === 'failed') failed += 1;
  }
  return { ok, failed };
}

export function profileLabel(profile: string): string {
  return profile === '_none' ? '(no profile)' : profile;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

const MiB = 1024 * 1024;

/**
 * An amount Wyng sent. Wyng reports whole MiB (backup's `bytesSent` is that total times 2^20),
 * so it is shown in MiB, as Wyng counts: "0 MiB", never a byte count it did not measure.
 */
export function formatSent(bytes: number): string {
  const mib = bytes / MiB;
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

/** The first error line of a failed run. */
export function failureText(r: ReportView): string {
  const e = r.errors[0];
  if (e === undefined) return `exit ${r.exitCode}`;
  return `${e.qube !== undefined ? `${e.qube}: ` : ''}${e.message}`;
}

/** The desktop notification for a finished run. */
export function desktopMessage(r: ReportView): { summary: string; body: string; urgency: 'normal' | 'critical' } {
  const who = profileLabel(r.profile);
  if (r.ok) {
    const bytes = bytesOf(r);
    const session = sessionOf(r);
    const parts = [
      session !== undefined ? `session ${session}` : undefined,
      bytes !== undefined ? `${formatSent(bytes)} sent` : undefined,
      formatDuration(r.durationMs),
    ];
    return {
      summary: `wyng-qubes: ${r.command} of '${who}' done`,
      body: parts.filter((p) => p !== undefined).join(', '),
      urgency: 'normal',
    };
  }
  return {
    summary: `wyng-qubes: ${r.command} of '${who}' FAILED`,
    body: `${failureText(r)}\nDetails: wyng-qubes report --last ${r.profile === '_none' ? '' : r.profile}`.trimEnd(),
    urgency: 'critical',
  };
}

/** One run as the summary shows it. */
export interface RunSummary {
  operation: string;
  source: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  exitCode: number;
  session?: string;
  bytesSent?: number;
  qubes?: { ok: number; failed: number };
  error?: string;
  dryRun?: boolean;
  /** cancelled at the prompt: nothing was done */
  cancelled?: boolean;
}

export interface ProfileSummary {
  profile: string;
  runs: number;
  failures: number;
  lastRun: RunSummary | null;
  /** The newest run that did its job (a run cancelled at the prompt did nothing: not a success). */
  lastSuccess: RunSummary | null;
  lastFailure: RunSummary | null;
  /** The newest successful backup, with its size and duration. */
  lastBackup: RunSummary | null;
  /** Averages over the successful backups among the reports kept. */
  backupAverage: { durationMs: number; bytesSent: number | null; count: number } | null;
}

export function runSummary(r: ReportView): RunSummary {
  const session = sessionOf(r);
  const bytes = bytesOf(r);
  const qubes = qubeCounts(r);
  return {
    operation: r.operation,
    source: r.source,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    exitCode: r.exitCode,
    ...(session !== undefined ? { session } : {}),
    ...(bytes !== undefined ? { bytesSent: bytes } : {}),
    ...(qubes !== undefined ? { qubes } : {}),
    ...(r.ok ? {} : { error: failureText(r) }),
    ...(r.dryRun === true ? { dryRun: true } : {}),
    ...(cancelledOf(r) ? { cancelled: true } : {}),
  };
}

/** Per-profile summary of reports given oldest first; profiles sorted by name. */
export function summarizeReports(reports: readonly ReportView[]): ProfileSummary[] {
  const by = new Map<string, ReportView[]>();
  for (const r of reports) {
    const list = by.get(r.profile) ?? [];
    list.push(r);
    by.set(r.profile, list);
  }
  const out: ProfileSummary[] = [];
  for (const [profile, list] of [...by.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const newestFirst = [...list].reverse();
    const find = (pred: (r: ReportView) => boolean): RunSummary | null => {
      const r = newestFirst.find(pred);
      return r === undefined ? null : runSummary(r);
    };
    const backups = list.filter((r) => r.ok && r.command === 'backup');
    const sized = backups.map(bytesOf).filter((b): b is number => b !== undefined);
    out.push({
      profile,
      runs: list.length,
      failures: list.filter((r) => !r.ok).length,
      lastRun: find(() => true),
      lastSuccess: find((r) => r.ok && !cancelledOf(r)),
      lastFailure: find((r) => !r.ok),
      lastBackup: find((r) => r.ok && r.command === 'backup'),
      backupAverage:
        backups.length === 0
          ? null
          : {
              count: backups.length,
              durationMs: Math.round(backups.reduce((s, r) => s + r.durationMs, 0) / backups.length),
              bytesSent: sized.length === 0 ? null : Math.round(sized.reduce((s, b) => s + b, 0) / sized.length),
            },
    });
  }
  return out;
}

function runLine(r: RunSummary): string {
  const parts = [
    `${r.operation}${r.dryRun === true ? ' (dry run)' : ''}${r.cancelled === true ? ' cancelled' : ''}`,
    r.finishedAt,
    formatDuration(r.durationMs),
    r.session !== undefined ? `session ${r.session}` : undefined,
    r.bytesSent !== undefined ? `${formatSent(r.bytesSent)} sent` : undefined,
    r.qubes !== undefined
      ? `${r.qubes.ok} qube(s) ok${r.qubes.failed > 0 ? `, ${r.qubes.failed} failed` : ''}`
      : undefined,
    `via ${r.source}`,
  ];
  return parts.filter((p) => p !== undefined).join(', ');
}

/** The text `wyng-qubes report` prints. */
export function renderSummary(summaries: readonly ProfileSummary[]): string {
  if (summaries.length === 0) return 'No reports yet.';
  const blocks = summaries.map((s) => {
    const lines = [`${profileLabel(s.profile)}: ${s.runs} run(s) kept, ${s.failures} failed`];
    if (s.lastRun !== null && s.lastRun.cancelled === true) lines.push(`  last run:     ${runLine(s.lastRun)}`);
    lines.push(`  last success: ${s.lastSuccess === null ? '-' : runLine(s.lastSuccess)}`);
    const failure = s.lastFailure;
    const failed = failure === null ? '-' : `${runLine(failure)} (exit ${failure.exitCode}): ${failure.error ?? ''}`;
    lines.push(`  last failure: ${failed}`);
    if (s.backupAverage !== null) {
      const avg = s.backupAverage;
      lines.push(
        `  backups:      ${avg.count} ok, on average ${formatDuration(avg.durationMs)}` +
          `${avg.bytesSent !== null ? ` and ${formatSent(avg.bytesSent)} sent` : ''}`,
      );
    }
    return lines.join('\n');
  });
  return blocks.join('\n\n');
}

/** The text `wyng-qubes report --last` prints for one report. */
export function renderReport(r: ReportView & { hooks?: { before?: HookView; after?: HookView } | undefined }): string {
  const s = runSummary(r);
  const lines = [
    `${profileLabel(r.profile)}: ${r.operation}${r.dryRun === true ? ' (dry run)' : ''} ` +
      `${s.cancelled === true ? 'cancelled (nothing done)' : r.ok ? 'succeeded' : `FAILED (exit ${r.exitCode})`}`,
    `  started:  ${r.startedAt}`,
    `  finished: ${r.finishedAt} (${formatDuration(r.durationMs)})`,
    `  source:   ${r.source}${r.caller !== undefined ? ` (from ${r.caller})` : ''}`,
  ];
  if (s.session !== undefined) lines.push(`  session:  ${s.session}`);
  if (s.bytesSent !== undefined) lines.push(`  sent:     ${formatSent(s.bytesSent)}`);
  if (s.qubes !== undefined) lines.push(`  qubes:    ${s.qubes.ok} ok, ${s.qubes.failed} failed`);
  for (const [which, h] of Object.entries(r.hooks ?? {})) {
    if (h === undefined) continue;
    lines.push(
      `  hook ${which}: ${h.argv0} ${h.ok ? 'ok' : h.timedOut ? 'timed out' : `failed (exit ${h.exitCode ?? '-'})`}`,
    );
  }
  for (const e of r.errors) lines.push(`  error:    ${e.qube !== undefined ? `${e.qube}: ` : ''}${e.message}`);
  return lines.join('\n');
}

export interface HookView {
  argv0: string;
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
}
