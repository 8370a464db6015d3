// Human text of a restore plan (what `restore` prints before acting, and all `--dry-run` shows).
// Every value in it may come from the archive: each is escaped for the terminal (t()).
import { escapeForTerminal } from '../terminal.ts';
import type { SettingsDiff } from './diff.ts';
import { firewallChangeLines } from './firewall-diff.ts';
import type { PlannedQube, RestorePlan } from './plan.ts';

/** One untrusted value on one line. */
const t = (v: string): string => escapeForTerminal(v);

function show(v: string | null): string {
  return v === null ? '(default)' : v === '' ? '(none)' : t(v);
}

function changeLines(d: SettingsDiff, deviceApi: RestorePlan['deviceApi']): string[] {
  const out: string[] = [];
  if (d.label) out.push(`label: ${show(d.label.from)} → ${t(d.label.to ?? '')}`);
  if (d.template) out.push(`template: ${show(d.template.from)} → ${t(d.template.to ?? '')}`);
  for (const p of d.properties) out.push(`${t(p.name)}: ${show(p.from)} → ${show(p.to)}`);
  for (const f of d.features)
    out.push(f.to === null ? `feature ${t(f.name)}: remove` : `feature ${t(f.name)}: ${show(f.from)} → ${t(f.to)}`);
  for (const x of d.tags) out.push(`tag ${t(x.tag)}: ${x.op}`);
  for (const c of d.devices) {
    const a = c.assignment;
    if (deviceApi === '4.2') {
      // Qubes 4.2: a persistent attachment of whatever device is in that port, no mode
      const opts = Object.entries(a.options).map(([k, v]) => ` ${t(k)}=${t(v)}`);
      const what = c.op === 'assign' ? 'attach persistently' : 'detach';
      out.push(`device ${what} ${t(a.devclass)} ${t(a.backend)}:${t(a.port)}${opts.join('')}`);
    } else out.push(`device ${c.op} ${t(a.devclass)} ${t(a.backend)}:${t(a.port)} (${t(a.deviceId)}, ${a.mode})`);
  }
  if (d.firewall) out.push(...firewallChangeLines(d.firewall.from, d.firewall.to));
  if (d.notes) out.push('notes.txt: replace');
  return out;
}

function qubeLines(q: PlannedQube, detail: boolean, deviceApi: RestorePlan['deviceApi']): string[] {
  const fails = q.fails ? ' — WILL FAIL' : '';
  const count = q.changeCount > 0 ? `, ${q.changeCount} change(s)` : '';
  const head = `  ${t(q.name)} (${q.klass}): ${q.action}${fails}${count}`;
  const out = [head];
  if (detail) {
    if (q.volumes.length > 0) out.push(`      volumes: ${q.volumes.map((v) => t(v.archiveName)).join(', ')}`);
    for (const l of changeLines(q.changes, deviceApi)) out.push(`      ${l}`);
    if (q.deferred.length > 0) out.push(`      set last (dependency cycle): ${q.deferred.map(t).join(', ')}`);
  }
  for (const p of q.problems) out.push(`      ${p.severity}: ${t(p.message)}`);
  if (q.netLoss !== undefined && q.netLoss.length > 0) out.push(`      warning: ${netLossLine(q)}`);
  return out;
}

function netLossLine(q: PlannedQube): string {
  const name = `'${t(q.name)}'`;
  const what = !q.running
    ? `the disposables of ${name} are`
    : q.stopDisposables.length > 0
      ? `${name} and its disposables are`
      : `${name} is`;
  return (
    `running qubes lose network while ${what} stopped (until started again): ` + (q.netLoss ?? []).map(t).join(', ')
  );
}

/**
 * The running qubes that lose network, for the confirmation before `Continue?` ('' when none):
 * each with the stopped qube its network goes through.
 */
export function renderNetLoss(plan: Pick<RestorePlan, 'qubes'>): string {
  const lines = plan.qubes.filter((q) => (q.netLoss ?? []).length > 0).map((q) => `  ${netLossLine(q)}`);
  if (lines.length === 0) return '';
  return ['\nWarning:  running qubes will lose network (the restore stops the qube they use as netvm):', ...lines].join(
    '\n',
  );
}

export function renderPlan(plan: RestorePlan, detail: boolean): string {
  const lines = [`\nVMs matched in session ${t(plan.session)}:`, ` ${plan.order.map(t).join(', ') || '(none)'}`];
  if (plan.notMatched.length > 0) lines.push('\nNot matched:', ` ${plan.notMatched.map(t).join(', ')}`);
  lines.push('\nRestore plan (in order):');
  for (const q of plan.qubes) lines.push(...qubeLines(q, detail, plan.deviceApi));
  return lines.join('\n');
}
