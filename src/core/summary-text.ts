/**
 * The closing lines of backup, restore and verify: one format each, printed by the use case
 * (src/app) and rebuilt from the `--json` result by `remote` (src/cli/render.ts).
 */

/** `backup`: the session, how many qubes and volumes it stored, what Wyng sent, how long it took. */
export function backupSummaryLine(s: {
  session: string | null | undefined;
  qubes: number;
  volumes: number;
  mibSent: number | undefined;
  seconds: number;
}): string {
  return (
    `\nSession ${s.session ?? '(unknown)'}: ${s.qubes} qube(s), ${s.volumes} volume(s)` +
    `${s.mibSent !== undefined ? `, ${s.mibSent} MiB sent` : ''} in ${s.seconds.toFixed(1)} s.`
  );
}

/** `restore`: how many of the planned qubes were restored. */
export function restoreSummaryLine(restored: number, total: number, session: string): string {
  return `\nRestored ${restored} of ${total} qube(s) from session ${session}.`;
}

/** `verify`: the qubes matched in the session. */
export function verifyMatchedText(session: string, names: readonly string[]): string {
  return `\nVMs matched in session ${session}:\n ${names.join(', ') || '(none)'}\n`;
}
