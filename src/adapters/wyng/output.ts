// Wyng's human output, read where wyng-qubes needs a fact from it (docs/design.md "Wyng contract").

/** `Sending backup session S:` in Wyng's send output. */
export function sessionFromSendOutput(stdout: string): string | undefined {
  return /Sending backup session (\d{8}-\d{6}):/.exec(stdout)?.[1];
}

/** Wyng's "MB" are MiB (`MB = 1024**2` in Wyng's source). */
export const WYNG_MB = 1024 * 1024;

/**
 * `N volumes, A——>B MB in S seconds.`: Wyng prints one such line per pool it sent from, with
 * whole MiB (truncated). The sum of B over all lines, or undefined when there is none.
 */
export function sentMegabytes(stdout: string): number | undefined {
  const sent = [...stdout.matchAll(/(\d+) volumes, ([\d.]+)\u2014\u2014>([\d.]+) MB in/g)].map((m) => Number(m[3]));
  return sent.length === 0 ? undefined : sent.reduce((a, b) => a + b, 0);
}

/**
 * The volume a line of Wyng's send output starts: `Volume 'NAME'` (unattended) or
 * `            |     | NAME` (attended; the line ends in `\r`).
 */
export function sendProgressVolume(line: string): string | undefined {
  const m = /^Volume '(.+)'$/.exec(line) ?? /^ {12}\| {5}\| (.+)$/.exec(line);
  return m?.[1];
}

/** The volume a receive or verify progress line starts (`Receiving volume 'NAME' S` / `Verifying volume …`). */
export function receiveProgressVolume(line: string): string | undefined {
  return /^(?:Receiving|Verifying) volume '(.+)' \d{8}-\d{6}/.exec(line)?.[1];
}

/**
 * Wyng's percent of the current volume in one line of its output (split at CR and LF):
 * receive/verify `[|||||...............] 23.4% ` (and `] 100% : OK` at the end), an attended
 * send `    22.0MB | 10%`. Undefined for any other line.
 */
export function wyngPercent(line: string): number | undefined {
  const m = /^\s*\[[|.]*\] +(\d{1,3}(?:\.\d)?)% /.exec(line) ?? /^\s*\d+\.\dMB [\\|/\u2013-] ?(\d{1,3})%$/.exec(line);
  if (m === null) return undefined;
  const p = Number(m[1]);
  return p <= 100 ? p : undefined;
}

/** Pruning result lines: `<volume> -<count> ` (docs/design.md "Wyng contract"). */
export function parsePruneCounts(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stdout.matchAll(/^(\S+) -(\d+) /gm)) out[m[1]!] = Number(m[2]);
  return out;
}
