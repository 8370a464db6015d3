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
  return {
    onVolume:
      ctx.options.progress === 'json'
        ? (name) => progress(ctx, { event: 'volume', name, index: (index += 1), total })
        : undefined,
    passthrough: !(ctx.options.json && ctx.options.progress === 'json'),
  };
}
