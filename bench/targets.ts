/**
 * The speed targets (issues 3/4 and 17) and how `npm run bench` judges the figures against
 * them. Pure: `judge(figures, recording)` gives one row per target with a verdict:
 * - `met` / `MISSED`: measured and compared;
 * - `no figure`: the benchmark gave none (not run, or the figure is not measured yet: its key
 *   is null) — counts as not met;
 * - `not measurable by the simulator`: a target that needs the real system (real Wyng's send,
 *   the real lab); printed with the reason, not counted.
 * Recorded figures (wyng-util-qubes' Admin API calls per one-qube restore) come from the
 * recording file, never typed in.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export type Verdict = 'met' | 'MISSED' | 'no figure' | 'not measurable by the simulator';

export interface Row {
  figure: string;
  measured: string;
  target: string;
  verdict: Verdict;
}

/** The recorded wyng-util-qubes 0.9 one-qube restores (test/data/qubesd). */
export const RECORDING = join(
  import.meta.dirname,
  '..',
  'test',
  'data',
  'qubesd',
  'wyng-util-qubes-restore-calls.json',
);

const RecordingSchema = z.object({
  runs: z.array(z.object({ run: z.string(), total_calls: z.number().int(), calls: z.array(z.unknown()) })).min(1),
});

export interface WuqCalls {
  min: number;
  max: number;
  runs: number;
}

/** The range of Admin API calls of wyng-util-qubes' recorded one-qube restores. */
export function readWuqCalls(path: string = RECORDING): WuqCalls {
  const rec = RecordingSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  const counts = rec.runs.map((r) => {
    if (r.calls.length !== r.total_calls) throw new Error(`${path}: run ${r.run}: total_calls ≠ number of calls`);
    return r.calls.length;
  });
  return { min: Math.min(...counts), max: Math.max(...counts), runs: counts.length };
}

type Figures = Record<string, unknown>;

/** A number at a dotted path of the figures, or undefined (absent, null or not a number). */
export function num(figures: Figures, path: string): number | undefined {
  let v: unknown = figures;
  for (const k of path.split('.'))
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

const show = (v: number | undefined, unit = ''): string =>
  v === undefined ? 'n/a' : `${Number(v.toFixed(2))}${unit === '' ? '' : ` ${unit}`}`;

/** met / MISSED when every value is there, else `no figure`. */
function verdict(values: Array<number | undefined>, ok: (...v: number[]) => boolean): Verdict {
  if (values.some((v) => v === undefined)) return 'no figure';
  return ok(...(values as number[])) ? 'met' : 'MISSED';
}

export function judge(f: Figures, wuq: WuqCalls): Row[] {
  const rows: Row[] = [];
  const add = (figure: string, measured: string, target: string, v: Verdict): void => {
    rows.push({ figure, measured, target, verdict: v });
  };

  const cold = num(f, 'coldStartMs');
  add(
    'cold start of the bundle (`version`, median)',
    show(cold, 'ms'),
    '< 150 ms',
    verdict([cold], (c) => c < 150),
  );
  const ratio = num(f, 'coldStartRatioVsWuq');
  add(
    'cold start vs wyng-util-qubes (`version`, same run)',
    ratio === undefined ? 'n/a (set WUQ to a wyng-util-qubes checkout)' : `${show(ratio)}×`,
    '≤ 0.75×',
    verdict([ratio], (r) => r <= 0.75),
  );
  const coldRss = num(f, 'coldStartRssMb');
  add(
    'cold start, peak RSS',
    show(coldRss, 'MiB'),
    '≤ 45 MiB',
    verdict([coldRss], (m) => m <= 45),
  );
  const helpRatio = num(f, 'coldStartHelpRatioVsWuq');
  add(
    'cold start vs wyng-util-qubes (`--help`, same run)',
    helpRatio === undefined ? 'n/a (set WUQ to a wyng-util-qubes checkout)' : `${show(helpRatio)}×`,
    '≤ 0.75×',
    verdict([helpRatio], (r) => r <= 0.75),
  );
  const helpRss = num(f, 'coldStartHelpRssMb');
  add(
    'cold start `--help`, peak RSS',
    show(helpRss, 'MiB'),
    '≤ 45 MiB',
    verdict([helpRss], (m) => m <= 45),
  );

  const xml = num(f, 'xmlParse1000Ms');
  add(
    'parse a 1,000-domain qubes.xml (median)',
    show(xml, 'ms'),
    '≤ 100 ms',
    verdict([xml], (m) => m <= 100),
  );
  const xmlRss = num(f, 'xmlParse1000RssMb');
  add(
    'parse a 1,000-domain qubes.xml, peak RSS',
    show(xmlRss, 'MB'),
    '≤ 100 MB',
    verdict([xmlRss], (m) => m <= 100),
  );

  const srMs = num(f, 'settingsRead200.ms');
  const srCalls = num(f, 'settingsRead200.calls');
  add(
    'read all settings of 200 qubes',
    `${show(srMs, 'ms')}, ${show(srCalls)} calls`,
    '< 300 ms, ≤ 3 calls/qube + 1',
    verdict([srMs, srCalls], (ms, calls) => ms < 300 && calls <= 3 * 200 + 1),
  );

  const bOurs = num(f, 'backup50.oursMs');
  const bWyng = num(f, 'backup50.wyngMs');
  const bCalls = num(f, 'backup50.calls');
  add(
    'backup of 50 qubes: Admin API calls',
    `${show(bCalls)} calls`,
    '< 5 reads/qube + 1 write',
    verdict([bCalls], (c) => c < 5 * 50 + 1),
  );
  add(
    'backup of 50 qubes: ours vs Wyng',
    `${show(bOurs, 'ms')} vs ${show(bWyng, 'ms')} (fake Wyng)`,
    'ours < 5 % of a real send',
    'not measurable by the simulator',
  );

  const rMs = num(f, 'restore200.ms');
  const rCalls = num(f, 'restore200.calls');
  const rWrites = num(f, 'restore200.writes');
  const rOurs = num(f, 'restore200.oursMs');
  const rWyng = num(f, 'restore200.wyngMs');
  const rChanged = num(f, 'restore200.changed');
  const rQubesd = num(f, 'restore200.qubesdMs');
  const rReads = num(f, 'restore200.readsPerChanged');
  add(
    'restore settings of 200 qubes (one change each), wall',
    `${show(rMs, 'ms')} (incl. the fake Wyng)`,
    '< 1 s',
    verdict([rMs], (ms) => ms < 1000),
  );
  add(
    'restore of 200 qubes (one change each): ours / Admin API',
    `ours ${show(rOurs, 'ms')} of which the fake qubesd answering ${show(rQubesd, 'ms')} (Wyng ` +
      `${show(rWyng, 'ms')}), ${show(rCalls)} calls, ${show(rWrites)} writes, ${show(rReads)} reads per ` +
      `changed qube (${show(rChanged)}) beyond the unchanged check's`,
    "≤ 1 s ours without qubesd's time, ≤ 2 reads + the writes per changed qube",
    verdict(
      [rOurs, rQubesd, rReads, rChanged, rCalls, rWrites],
      (ours, qubesd, reads) => ours - qubesd <= 1000 && reads <= 2,
    ),
  );
  const cOurs = num(f, 'restoreCheck200.oursMs');
  const cCalls = num(f, 'restoreCheck200.calls');
  add(
    'unchanged restore check of 200 qubes',
    `ours ${show(cOurs, 'ms')}, ${show(cCalls)} calls`,
    '≤ 0.5 s ours, ≤ 1 call/qube',
    verdict([cOurs, cCalls], (ours, calls) => ours <= 500 && calls <= 200),
  );
  const rerun = num(f, 'rerunWrites');
  add(
    'unchanged rerun: Admin API writes',
    show(rerun),
    '0',
    verdict([rerun], (w) => w === 0),
  );
  const oneCalls = num(f, 'restore1.calls');
  add(
    'restore of one qube: Admin API calls',
    `${show(oneCalls)} calls, ${show(num(f, 'restore1.writes'))} writes`,
    `< wyng-util-qubes' ${wuq.min}–${wuq.max} (recorded, ${wuq.runs} runs)`,
    verdict([oneCalls], (c) => c < wuq.min),
  );

  const sMs = num(f, 'saltNoop9.ms');
  const sDry = num(f, 'saltNoop9.dryRunMs');
  const sWyng = num(f, 'saltNoop9.wyngProcesses');
  add(
    'Salt: no-op apply of 9 restored states',
    `${show(sMs, 'ms')} vs dry run ${show(sDry, 'ms')}, ${show(sWyng)} Wyng processes`,
    '≤ 2× the dry run, ≤ 3 Wyng processes',
    verdict([sMs, sDry, sWyng], (ms, dry, w) => ms <= 2 * dry && w <= 3),
  );

  add(
    'real lab: restore / backup vs wyng-util-qubes',
    'n/a',
    'restore ≤ 0.5×, backup ≤ 1.05×, unchanged rerun starts no qube',
    'not measurable by the simulator',
  );
  return rows;
}
