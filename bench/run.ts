/**
 * `npm run bench`: runs every benchmark of bench/ as its own process (so memory figures are
 * per benchmark), collects the JSON line each prints with `--json`, judges each figure against
 * its target (bench/targets.ts), prints ONE markdown table with the verdicts and writes the
 * figures to bench/results.json (gitignored) under stable keys:
 * coldStartMs, coldStartRssMb, coldStartRatioVsWuq, xmlParse1000Ms, xmlParse1000RssMb,
 * settingsRead200 {ms, calls}, backup50 {oursMs, wyngMs, calls},
 * restore200 {ms, calls, callsPerQube, writes, changed, oursMs, wyngMs},
 * restoreCheck200 {oursMs, calls}, rerunWrites, restore1 {calls, writes},
 * saltNoop9 {ms, dryRunMs, wyngProcesses}. A figure not measured (yet) is null.
 * BENCH_ONLY=cold-start.ts,xml-parse.ts runs some of them only.
 * Exit status: 0 when every target the simulator can measure was met, 1 otherwise (a miss,
 * a missing figure, or a benchmark that failed). CI does not run it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { judge, readWuqCalls } from './targets.ts';

const here = import.meta.dirname;
const ALL = ['cold-start.ts', 'xml-parse.ts', 'settings-read.ts', 'backup.ts', 'restore.ts', 'salt-noop.ts'];
// BENCH_ONLY=a.ts,b.ts runs only those (the others' figures are then missing: exit 1)
const BENCHES = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : ALL;

type Figures = Record<string, unknown>;
const results: Figures = {};
const failures: string[] = [];
for (const file of BENCHES) {
  const path = join(here, file);
  if (!existsSync(path)) {
    failures.push(`${file}: missing`);
    continue;
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', path, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = (r.stdout ?? '').trim().split('\n');
  for (const l of lines.slice(0, -1)) console.log(l);
  if (r.status !== 0) {
    failures.push(`${file}: exit ${r.status}`);
    continue;
  }
  try {
    Object.assign(results, JSON.parse(lines[lines.length - 1] ?? '') as Figures);
  } catch {
    failures.push(`${file}: no JSON figures`);
  }
}

// every key is there, null where the figure is not measured (yet)
const PLACEHOLDERS: Figures = {
  coldStartRatioVsWuq: null,
  restoreCheck200: { oursMs: null, calls: null },
  restore200: { oursMs: null, wyngMs: null },
  saltNoop9: { ms: null, dryRunMs: null, wyngProcesses: null },
};
for (const [key, value] of Object.entries(PLACEHOLDERS)) {
  const have = results[key];
  if (have === undefined) results[key] = value;
  else if (value !== null && typeof have === 'object' && have !== null)
    results[key] = { ...(value as object), ...(have as object) };
}

const rows = judge(results, readWuqCalls());
console.log('\n| figure | measured | target | verdict |\n| --- | --- | --- | --- |');
for (const r of rows)
  console.log(`| ${r.figure} | ${r.measured} | ${r.target} | ${r.verdict === 'MISSED' ? '**MISSED**' : r.verdict} |`);
const count = (v: string): number => rows.filter((r) => r.verdict === v).length;
console.log(
  `\n${count('met')} met, ${count('MISSED')} missed, ${count('no figure')} without a figure, ` +
    `${count('not measurable by the simulator')} not measurable by the simulator`,
);
writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nfigures written to bench/results.json`);
if (failures.length > 0) console.error(`\nbenchmarks that did not report: ${failures.join('; ')}`);
process.exitCode = failures.length > 0 || count('MISSED') > 0 || count('no figure') > 0 ? 1 : 0;
