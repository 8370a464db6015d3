/**
 * Cold start of the bundle: `node dist/wyng-qubes.mjs version`, median of N runs (BENCH_RUNS,
 * default 15), and its peak RSS (a run with a preload that reports `maxRSS` at exit).
 * With `WUQ` pointing at a wyng-util-qubes checkout (qubesadmin importable: PYTHONPATH, as the
 * lab sets it up; interpreter `PYTHON`, default python3) both tools run alternately in the
 * same loop and the ratio ours / wyng-util-qubes of the medians is printed.
 * Targets (issues 3, 17): < 150 ms; ≤ 0.75× wyng-util-qubes; ≤ 45 MiB.
 * `--help` is measured the same way (its ratio `coldStartHelpRatioVsWuq`, its peak `coldStartHelpRssMb`).
 * Where the time goes: node itself (`node -e 0`, and an empty ES module: the ESM loader), then
 * our part of each median on top of the empty module (the entry and the chunks it loads;
 * scripts/build.mjs).
 * With `--json` the last line is `{"coldStartMs", "coldStartRssMb", "coldStartRatioVsWuq",
 * "coldStartHelpRatioVsWuq", "coldStartHelpRssMb"}` (the ratios null without WUQ, or when
 * wyng-util-qubes does not run; the reason is printed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

// node itself: `node -e 0`, and an empty ES module (what any .mjs program pays for the ESM
// loader); in the same loop as ours, so that the machine's load weighs on all alike
const emptyDir = mkdtempSync(join(tmpdir(), 'wq-bench-cold-'));
const emptyModule = join(emptyDir, 'empty.mjs');
writeFileSync(emptyModule, '');
timed(process.execPath, [bundle, 'version']); // warm the file cache
const ours: number[] = [];
const theirs: number[] = [];
const bare: number[] = [];
const emptyEsm: number[] = [];
for (let i = 0; i < runs; i += 1) {
  const r = timed(process.execPath, [bundle, 'version']);
  if (r.status !== 0) throw new Error(`version failed: ${r.stderr}`);
  ours.push(r.ms);
  if (wuq !== undefined) theirs.push(timed(wuq[0] as string, wuq.slice(1)).ms);
  bare.push(timed(process.execPath, ['-e', '0']).ms);
  emptyEsm.push(timed(process.execPath, [emptyModule]).ms);
}
rmSync(emptyDir, { recursive: true, force: true });
const oursMs = median(ours);
const baseline = median(bare);
const emptyMs = median(emptyEsm);
// `--help` the same way (issue 17 aims at both)
const oursHelp: number[] = [];
const theirsHelp: number[] = [];
for (let i = 0; i < runs; i += 1) {
  oursHelp.push(timed(process.execPath, [bundle, '--help']).ms);
  if (wuq !== undefined) theirsHelp.push(timed(wuq[0] as string, [...wuq.slice(1, -1), '--help']).ms);
}
const helpRatio = theirsHelp.length > 0 ? Number((median(oursHelp) / median(theirsHelp)).toFixed(2)) : null;
// peak RSS: a preload reports the process's maxRSS (KiB) on exit
const report = "process.on('exit',()=>process.stderr.write('\\nWQ_MAXRSS '+process.resourceUsage().maxRSS+'\\n'))";
const peak = (args: string[]): { mb: number | null } => {
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${report}`, bundle, ...args], {
    encoding: 'utf8',
  });
  const kib = /WQ_MAXRSS (\d+)/.exec(r.stderr ?? '')?.[1];
  return { mb: kib === undefined ? null : Number((Number(kib) / 1024).toFixed(1)) };
};
const rssMb = peak(['version']).mb;
const helpRssMb = peak(['--help']).mb;

const ratio = theirs.length > 0 ? Number((oursMs / median(theirs)).toFixed(2)) : null;
const helpMs = median(oursHelp);
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
console.log(
  `cold start --help: median ${helpMs.toFixed(1)} ms, peak RSS ${helpRssMb ?? 'n/a'} MiB` +
    (helpRatio === null ? '' : `; wyng-util-qubes --help ${median(theirsHelp).toFixed(1)} ms, ratio ${helpRatio}×`),
);
const plus = (ms: number): string => `${ms >= emptyMs ? '+' : ''}${(ms - emptyMs).toFixed(1)} ms`;
console.log(
  `where the time goes: node -e 0 ${baseline.toFixed(1)} ms; an empty ES module ${emptyMs.toFixed(1)} ms ` +
    `(node + its ESM loader); on top of that, ours: version ${plus(oursMs)}, --help ${plus(helpMs)} ` +
    `(entry ${(statSync(bundle).size / 1024).toFixed(1)} KiB + the chunks each loads)`,
);
if (process.argv.includes('--json'))
  console.log(
    JSON.stringify({
      coldStartMs: Number(oursMs.toFixed(1)),
      coldStartRssMb: rssMb,
      coldStartRatioVsWuq: ratio,
      coldStartHelpRatioVsWuq: helpRatio,
      coldStartHelpRssMb: helpRssMb,
    }),
  );
