/**
 * Human text from a command's `--json` result: what the local command prints, rebuilt from
 * the result alone, for `remote` (whose result comes back from dom0 as JSON). The local
 * commands still print as they go; moving them onto these renderers is the app-layer refactor's.
 */
import { renderPlan } from '../core/restore/render.ts';
import type { RestorePlan } from '../core/restore/plan.ts';
import type { RpcOperation } from '../core/profiles.ts';
import { printable } from '../core/names.ts';

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

/** An ISO time in the local zone with its offset, as `list` prints "Last updated". */
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const pad = (n: number): string => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + offset * 60_000).toISOString().replace('T', ' ').replace('Z', '');
  return `${local} (${sign}${pad(offset / 60)}:${pad(offset % 60)})`;
}

/** `list`'s text: the archive header, then the session, the named qubes' sessions or the overview. */
export function renderList(result: unknown, request: RenderRequest): string[] {
  const r = obj(result) ?? {};
  const archive = obj(r.archive) ?? {};
  // dom0 withholds the archive URL from remote callers (url: null)
  const url = archive.url === null ? '(withheld by dom0)' : str(archive.url);
  const out = [`\nURL ${url}`, `Last updated ${localTime(str(archive.updatedAt))}`];
  if (typeof archive.encrypted === 'boolean') {
    out.push(
      `Encryption: ${archive.encrypted ? 'On' : 'OFF'}${archive.authenticated === true ? ', Authenticated' : ''}`,
    );
  }
  const qubes = obj(r.qubes) ?? {};
  const session = obj(r.session);
  if (session !== undefined) {
    out.push(`\nVMs in session ${str(session.id)}:`);
    for (const e of arr(session.qubes).map(obj)) {
      if (e !== undefined) out.push(`  ${str(e.name)}${e.disposable === true ? ' (D)' : ''}`);
    }
    const tags = Object.entries(obj(session.tags) ?? {}).filter(([k, v]) => !(k === 'qubes' && v === ''));
    if (tags.length > 0) {
      out.push('\nTags in session:');
      for (const [k, v] of tags) out.push(`  ${printable(k).padEnd(12)} - ${str(v)}`);
    }
  } else if (request.qubes.length > 0) {
    for (const [q, info] of Object.entries(qubes)) {
      out.push(`\n${printable(q)}:`);
      for (const s of arr(obj(info)?.sessions)) out.push(str(s));
    }
  } else {
    out.push('\n* Archived Qubes VMs *', '\nLatest:           VM Name:');
    for (const [q, info] of Object.entries(qubes)) out.push(`${str(obj(info)?.newest)}   ${printable(q)}`);
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
    `\nSession ${str(r.session) || '(unknown)'}: ${ok.length} qube(s), ${volumes} volume(s)` +
      `${mib !== undefined ? `, ${mib} MiB sent` : ''} in ${seconds.toFixed(1)} s.`,
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
  return [`\nRestored ${restored} of ${qubes.length} qube(s) from session ${str(r.session)}.`];
}

/** `verify`'s list of the qubes it verified. */
export function renderVerify(result: unknown): string[] {
  const r = obj(result) ?? {};
  const names = arr(r.qubes).map((q) => str(obj(q)?.name));
  return [`\nVMs matched in session ${str(r.session)}:\n ${names.join(', ') || '(none)'}\n`];
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
