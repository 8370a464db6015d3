import { parseVolumeName } from '../core/archive.ts';
import type { AppContext } from './ports.ts';

/** One `--progress=json` event (README "Progress"): one JSON line on stderr with its time. */
export type ProgressEvent = Record<string, string | number | boolean | null | string[]>;

export function progress(ctx: AppContext, event: ProgressEvent): void {
  if (ctx.options.progress === 'json')
    ctx.io.stderr(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

/**
 * The `volume` events of one Wyng run over `total` volumes, and whether Wyng's own output is passed through
 * (not under `--json --progress=json`: stderr then carries JSON lines only).
 */
export function volumeProgress(
  ctx: AppContext,
  total: number,
): { onVolume: ((name: string) => void) | undefined; passthrough: boolean } {
  let index = 0;
  const passthrough = !(ctx.options.json && ctx.options.progress === 'json');
  if (ctx.options.progress === 'json') {
    return { onVolume: (name) => progress(ctx, { event: 'volume', name, index: (index += 1), total }), passthrough };
  }
  // a terminal on stderr: one progress line per volume (Wyng's own bar shows the percent of each volume)
  if (ctx.io.stderrIsTTY !== true) return { onVolume: undefined, passthrough };
  const started = Date.now();
  const qubes: string[] = [];
  return {
    onVolume: (name) => {
      index += 1;
      const qube = parseVolumeName(name)?.qube ?? name;
      if (!qubes.includes(qube)) qubes.push(qube);
      const elapsed = (Date.now() - started) / 1000;
      const eta = index > 1 ? ` (about ${Math.round((elapsed / (index - 1)) * (total - index + 1))} s left)` : '';
      ctx.io.stderr(
        `\n[volume ${index} of ${total}, qube ${qubes.length}: ${qube}] ${name}, ${elapsed.toFixed(0)} s${eta}\n`,
      );
    },
    passthrough,
  };
}
