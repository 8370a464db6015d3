// Human text of a restore plan (what `restore` prints before acting, and all `--dry-run` shows).
import type { SettingsDiff } from './diff.ts';
import { firewallChangeLines } from './firewall-diff.ts';
import type { PlannedQube, RestorePlan } from './plan.ts';

function show(v: string | null): string {
  return v === null ? '(default)' : v === '' ? '(none)' : v;
}

function changeLines(d: SettingsDiff): string[] {
  const out: string[] = [];
  if (d.label) out.push(`label: ${show(d.label.from)} → ${d.label.to}`);
  if (d.template) out.push(`template: ${show(d.template.from)} → ${d.template.to}`);
  for (const p of d.properties) out.push(`${p.name}: ${show(p.from)} → ${show(p.to)}`);
  for (const f of d.features)
    out.push(f.to === null ? `feature ${f.name}: remove` : `feature ${f.name}: ${show(f.from)} → ${f.to}`);
  for (const t of d.tags) out.push(`tag ${t.tag}: ${t.op}`);
  for (const c of d.devices) {
    const a = c.assignment;
    out.push(`device ${c.op} ${a.devclass} ${a.backend}:${a.port} (${a.deviceId}, ${a.mode})`);
  }
  if (d.firewall) out.push(...firewallChangeLines(d.firewall.from, d.firewall.to));
  if (d.notes) out.push('notes.txt: replace');
  return out;
}

function qubeLines(q: PlannedQube, detail: boolean): string[] {
  const changes = q.changeCount > 0 ? `, ${q.changeCount} change(s)` : '';
  const head = `  ${q.name} (${q.klass}): ${q.action}${q.fails ? ' — WILL FAIL' : ''}${changes}`;
  const out = [head];
  if (detail) {
    if (q.volumes.length > 0) out.push(`      volumes: ${q.volumes.map((v) => v.archiveName).join(', ')}`);
    for (const l of changeLines(q.changes)) out.push(`      ${l}`);
    if (q.deferred.length > 0) out.push(`      set last (dependency cycle): ${q.deferred.join(', ')}`);
  }
  for (const p of q.problems) out.push(`      ${p.severity}: ${p.message}`);
  return out;
}

export function renderPlan(plan: RestorePlan, detail: boolean): string {
  const lines = [`\nVMs matched in session ${plan.session}:`, ` ${plan.order.join(', ') || '(none)'}`];
  if (plan.notMatched.length > 0) lines.push('\nNot matched:', ` ${plan.notMatched.join(', ')}`);
  lines.push('\nRestore plan (in order):');
  for (const q of plan.qubes) lines.push(...qubeLines(q, detail));
  return lines.join('\n');
}
