/**
 * Cold start of the bundle: `node dist/wyng-qubes.mjs version`, median of N runs.
 * Target (issue 3): < 150 ms median on the project's machines. Prints the figure; with
 * `--json` the last line is `{"coldStartMs": …}` for bench/run.ts.
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
const times: number[] = [];
spawnSync(process.execPath, [bundle, 'version']); // warm the file cache
for (let i = 0; i < runs; i += 1) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bundle, 'version'], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`version failed: ${r.stderr}`);
  times.push(ms);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const baseline: number[] = [];
for (let i = 0; i < 5; i += 1) {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  baseline.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
baseline.sort((a, b) => a - b);
console.log(
  `cold start (node dist/wyng-qubes.mjs version): median ${median.toFixed(1)} ms over ${runs} ` +
    `runs (min ${times[0]!.toFixed(1)}, max ${times[times.length - 1]!.toFixed(1)}); bare node: ` +
    `${baseline[2]!.toFixed(1)} ms; target < 150 ms`,
);
if (process.argv.includes('--json')) console.log(JSON.stringify({ coldStartMs: Number(median.toFixed(1)) }));
