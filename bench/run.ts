/**
 * `npm run bench`: runs every benchmark of bench/ as its own process (so memory figures are
 * per benchmark), collects the JSON line each prints with `--json`, prints ONE markdown table
 * and writes the same figures to bench/results.json (gitignored) under stable keys:
 * coldStartMs, xmlParse1000Ms, xmlParse1000RssMb, settingsRead200 {ms, calls},
 * backup50 {oursMs, wyngMs, calls}, restore200 {ms, calls, callsPerQube, writes},
 * rerunWrites, restore1 {calls, writes}.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const BENCHES = ['cold-start.ts', 'xml-parse.ts', 'settings-read.ts', 'backup.ts', 'restore.ts'];

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

const get = (path: string): string => {
  let v: unknown = results;
  for (const k of path.split('.'))
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v === undefined ? 'n/a' : typeof v === 'number' ? String(Number(v.toFixed(2))) : String(v);
};
const rows: Array<[string, string, string]> = [
  ['cold start of the bundle (`version`, median)', `${get('coldStartMs')} ms`, '< 150 ms'],
  ['parse a 1,000-domain qubes.xml (median)', `${get('xmlParse1000Ms')} ms`, '< 100 ms'],
  ['parse a 1,000-domain qubes.xml, peak RSS', `${get('xmlParse1000RssMb')} MB`, '—'],
  [
    'read all settings of 200 qubes',
    `${get('settingsRead200.ms')} ms, ${get('settingsRead200.calls')} calls`,
    '< 300 ms, ≤ 3 calls/qube + 1',
  ],
  [
    'backup of 50 qubes: ours vs Wyng',
    `${get('backup50.oursMs')} ms vs ${get('backup50.wyngMs')} ms, ${get('backup50.calls')} calls`,
    'ours < 5 % of a real send; < 5 reads/qube + 1 write',
  ],
  [
    'restore settings of 200 qubes',
    `${get('restore200.ms')} ms, ${get('restore200.calls')} calls ` +
      `(${get('restore200.callsPerQube')}/qube), ${get('restore200.writes')} writes`,
    '< 1 s, ≤ 3 reads/qube + 1 per change',
  ],
  ['unchanged rerun: Admin API writes', get('rerunWrites'), '0'],
  [
    'restore of one qube: calls, writes',
    `${get('restore1.calls')} calls, ${get('restore1.writes')} writes`,
    'wyng-util-qubes: 68–73 calls',
  ],
];
console.log('\n| figure | measured | target |\n| --- | --- | --- |');
for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nfigures written to bench/results.json`);
if (failures.length > 0) {
  console.error(`\nbenchmarks that did not report: ${failures.join('; ')}`);
  process.exitCode = 1;
}
