/**
 * Human text from a command's `--json` result: what the local command prints, rebuilt from
 * the result alone, for `remote` (whose result comes back from dom0 as JSON). The formats are
 * the ones the use cases print with as they go (core/list.ts listText, core/summary-text.ts):
 * one copy of each; here only the untrusted JSON is read back into them.
 */
import { renderPlan } from '../core/restore/render.ts';
import type { RestorePlan } from '../core/restore/plan.ts';
import type { RpcOperation } from '../core/profiles.ts';
import { listText } from '../core/list.ts';
import { printable } from '../core/names.ts';
import { backupSummaryLine, restoreSummaryLine, verifyMatchedText } from '../core/summary-text.ts';

/** The request `remote` sent, as far as the text depends on it. */
export interface RenderRequest {
  qubes: readonly string[];
  session?: string | undefined;
  dryRun?: boolean | undefined;
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string {
  return typeof v === 'string' ? printable(v, 200) : '';
}

/** `list`'s text: the archive header, then the session, the named qubes' sessions or the overview. */
export function renderList(result: unknown, request: RenderRequest): string[] {
  const r = obj(result) ?? {};
  const archive = obj(r.archive) ?? {};
  const out = listText.header({
    // dom0 withholds the archive URL from remote callers (url: null)
    url: archive.url === null ? null : str(archive.url),
    updatedAt: str(archive.updatedAt),
    encrypted: typeof archive.encrypted === 'boolean' ? archive.encrypted : undefined,
    authenticated: archive.authenticated === true,
  });
  const qubes = Object.entries(obj(r.qubes) ?? {}).map(([q, info]) => [printable(q), obj(info)] as const);
  const session = obj(r.session);
  if (session !== undefined) {
    const entries = arr(session.qubes)
      .map(obj)
      .filter((e) => e !== undefined)
      .map((e) => ({ name: str(e.name), disposable: e.disposable === true }));
    const tags = Object.entries(obj(session.tags) ?? {}).map(([k, v]): [string, string] => [printable(k), str(v)]);
    out.push(...listText.session(str(session.id), entries, tags));
  } else if (request.qubes.length > 0) {
    out.push(...listText.qubes(qubes.map(([q, info]) => [q, arr(info?.sessions).map(str)])));
  } else {
    out.push(...listText.overview(qubes.map(([q, info]) => [q, str(info?.newest)])));
  }
  out.push('');
  return out;
}

/** `backup`'s closing line. */
export function renderBackup(result: unknown): string[] {
  const r = obj(result) ?? {};
  const qubes = arr(r.qubes).map(obj);
  const ok = qubes.filter((q) => q?.status === 'ok');
  const volumes = ok.reduce((n, q) => n + arr(q?.volumes).length, 0) + (typeof r.session === 'string' ? 1 : 0);
  const mib = typeof r.bytesSent === 'number' ? r.bytesSent / (1024 * 1024) : undefined;
  const seconds = typeof r.seconds === 'number' ? r.seconds : 0;
  return [
    backupSummaryLine({ session: str(r.session) || undefined, qubes: ok.length, volumes, mibSent: mib, seconds }),
  ];
}

/** `restore`'s plan (dry run) or its closing line. */
export function renderRestore(result: unknown): string[] {
  const r = obj(result) ?? {};
  const plan = obj(r.plan);
  if (plan !== undefined) return [renderPlan(plan as unknown as RestorePlan, true)];
  if (r.cancelled === true) return ['Cancelled.'];
  const qubes = arr(r.qubes).map(obj);
  const restored = qubes.filter((q) => q?.status === 'restored').length;
  return [restoreSummaryLine(restored, qubes.length, str(r.session))];
}

/** `verify`'s list of the qubes it verified. */
export function renderVerify(result: unknown): string[] {
  const r = obj(result) ?? {};
  const names = arr(r.qubes).map((q) => str(obj(q)?.name));
  return [verifyMatchedText(str(r.session), names)];
}

/** `wyng.Status`: the running job and each visible profile's last report. */
export function renderStatus(result: unknown): string[] {
  const r = obj(result) ?? {};
  const job = obj(r.running);
  const out = [job === undefined ? 'No job running.' : `Running: ${str(job.job)} (since ${str(job.since)})`];
  for (const [profile, rep] of Object.entries(obj(r.reports) ?? {})) {
    const p = obj(rep) ?? {};
    out.push(
      `${printable(profile)}: last ${str(p.operation)} ${p.ok === true ? 'ok' : 'FAILED'} at ${str(p.finishedAt)}`,
    );
  }
  return out;
}

/** The text of an RPC operation's result, as the local command prints it. */
export function renderResult(op: RpcOperation, result: unknown, request: RenderRequest): string[] {
  switch (op) {
    case 'List':
      return renderList(result, request);
    case 'Backup':
      return renderBackup(result);
    case 'Restore':
      return renderRestore(result);
    case 'Verify':
      return renderVerify(result);
    case 'Status':
      return renderStatus(result);
    case 'Prune':
      return [];
  }
}
