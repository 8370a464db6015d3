// The firewall rules a restore changes, in qvm-firewall's words (`action=accept proto=tcp dstports=443-443`).

/**
 * Lines for the plan: `- RULE` for each rule removed, `+ RULE` for each rule added (numbered as
 * `qvm-firewall QUBE list` numbers them); when only the order changes, the whole new list in order.
 */
export function firewallChangeLines(from: readonly string[], to: readonly string[]): string[] {
  const lines = [`firewall: ${from.length} → ${to.length} rule(s)`];
  const had = new Set(from);
  const want = new Set(to);
  const removed = from.map((r, i) => [i, r] as const).filter(([, r]) => !want.has(r));
  const added = to.map((r, i) => [i, r] as const).filter(([, r]) => !had.has(r));
  if (removed.length === 0 && added.length === 0) {
    lines.push('  order changes; new order:');
    to.forEach((r, i) => lines.push(`    ${i} ${r}`));
    return lines;
  }
  for (const [i, r] of removed) lines.push(`  - ${i} ${r}`);
  for (const [i, r] of added) lines.push(`  + ${i} ${r}`);
  return lines;
}
