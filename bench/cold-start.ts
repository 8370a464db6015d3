/**
 * Cold start of the bundle: `node dist/wyng-qubes.mjs version`, median of N runs (BENCH_RUNS,
 * default 15), and its peak RSS (a run with a preload that reports `maxRSS` at exit).
 * With `WUQ` pointing at a wyng-util-qubes checkout (qubesadmin importable: PYTHONPATH, as the
 * lab sets it up; interpreter `PYTHON`, default python3) both tools run alternately in the
 * same loop and the ratio ours / wyng-util-qubes of the medians is printed.
 * Targets (issues 3, 17): < 150 ms; ≤ 0.75× wyng-util-qubes; ≤ 45 MiB.
 * With `--json` the last line is `{"coldStartMs", "coldStartRssMb", "coldStartRatioVsWuq"}`
 * (the ratio null without WUQ, or when wyng-util-qubes does not run; the reason is printed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const bundle = join(import.meta.dirname, '..', 'dist', 'wyng-qubes.mjs');
if (!existsSync(bundle)) {
  console.error('build first: npm run build');
  process.exit(1);
}
const runs = Number(process.env.BENCH_RUNS ?? 15);

function timed(cmd: string, args: string[]): { ms: number; status: number | null; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status: r.status, stderr: r.stderr ?? '' };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

// wyng-util-qubes side by side, when WUQ names a checkout
let wuq: string[] | undefined;
let wuqNote = 'WUQ not set';
const wuqDir = process.env.WUQ;
if (wuqDir !== undefined && wuqDir !== '') {
  const script = [join(wuqDir, 'src', 'wyng-util-qubes'), join(wuqDir, 'wyng-util-qubes')].find((p) => existsSync(p));
  if (script === undefined) wuqNote = `no wyng-util-qubes script in ${wuqDir}`;
  else {
    const cmd = [process.env.PYTHON ?? 'python3', script, 'version'];
    const probe = timed(cmd[0] as string, cmd.slice(1));
    if (probe.status === 0) wuq = cmd;
    else wuqNote = `wyng-util-qubes version failed (exit ${probe.status}): ${probe.stderr.trim().split('\n').pop()}`;
  }
}

timed(process.execPath, [bundle, 'version']); // warm the file cache
const ours: number[] = [];
const theirs: number[] = [];
for (let i = 0; i < runs; i += 1) {
  const r = timed(process.execPath, [bundle, 'version']);
  if (r.status !== 0) throw new Error(`version failed: ${r.stderr}`);
  ours.push(r.ms);
  if (wuq !== undefined) theirs.push(timed(wuq[0] as string, wuq.slice(1)).ms);
}
const oursMs = median(ours);
const baseline = median([0, 1, 2, 3, 4].map(() => timed(process.execPath, ['-e', '0']).ms));

// peak RSS: a preload reports the process's maxRSS (KiB) on exit
const report = "process.on('exit',()=>process.stderr.write('\\nWQ_MAXRSS '+process.resourceUsage().maxRSS+'\\n'))";
const rss = spawnSync(process.execPath, ['--import', `data:text/javascript,${report}`, bundle, 'version'], {
  encoding: 'utf8',
});
const kib = /WQ_MAXRSS (\d+)/.exec(rss.stderr ?? '')?.[1];
const rssMb = kib === undefined ? null : Number((Number(kib) / 1024).toFixed(1));

const ratio = theirs.length > 0 ? Number((oursMs / median(theirs)).toFixed(2)) : null;
console.log(
  `cold start (node dist/wyng-qubes.mjs version): median ${oursMs.toFixed(1)} ms over ${runs} runs ` +
    `(min ${Math.min(...ours).toFixed(1)}, max ${Math.max(...ours).toFixed(1)}); ` +
    `bare node: ${baseline.toFixed(1)} ms; ` +
    `peak RSS ${rssMb ?? 'n/a'} MiB; ` +
    (ratio === null
      ? `wyng-util-qubes not measured (${wuqNote})`
      : `wyng-util-qubes version: median ${median(theirs).toFixed(1)} ms, ratio ${ratio}×`) +
    '; targets < 150 ms, ≤ 0.75× wyng-util-qubes, ≤ 45 MiB',
);
if (process.argv.includes('--json'))
  console.log(
    JSON.stringify({ coldStartMs: Number(oursMs.toFixed(1)), coldStartRssMb: rssMb, coldStartRatioVsWuq: ratio }),
  );
