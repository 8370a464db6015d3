/**
 * Parse time of a 1,000-domain qubes.xml with the archive reader (src/core/qubesxml):
 * median of N parses (env BENCH_RUNS, default 21) after 3 warm-up parses, with CPU time.
 * Peak memory: a fresh plain-node process (the reader bundled with esbuild, as in the CLI; no
 * tsx) that reads the file and parses it once, as the CLI does: its peak RSS and that of the
 * same process without the parse. The peak RSS of this benchmark process (tsx, all the
 * parses) is printed too. Targets (issue 17): ≤ 100 ms, ≤ 100 MB.
 * With `--json` the last line is `{"xmlParse1000Ms": …, "xmlParse1000RssMb": …}` for bench/run.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { parseQubesXml } from '../src/core/qubesxml/qubes-xml.ts';
import { generateQubesXml } from './gen-qubes-xml.ts';

const DOMAINS = 1000;
const runs = Number(process.env.BENCH_RUNS ?? 21);
const xml = Buffer.from(generateQubesXml(DOMAINS));

for (let i = 0; i < 3; i += 1) parseQubesXml(xml);
const times: number[] = [];
const cpu: number[] = [];
let qubes = 0;
for (let i = 0; i < runs; i += 1) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  qubes = parseQubesXml(xml).qubes.length;
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
}
cpu.sort((a, b) => a - b);
const cpuMedian = cpu[Math.floor(cpu.length / 2)] as number;
if (qubes !== DOMAINS) throw new Error(`expected ${DOMAINS} qubes, read ${qubes}`);
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)] as number;
const loopRssMb = process.resourceUsage().maxRSS / 1024;

// one parse in a fresh plain-node process
const dir = mkdtempSync(join(tmpdir(), 'wq-bench-xml-'));
let oneRssMb: number;
let baseRssMb: number;
try {
  const xmlPath = join(dir, 'qubes.xml');
  writeFileSync(xmlPath, xml);
  const entry = join(dir, 'entry.mjs');
  const reader = join(import.meta.dirname, '..', 'src', 'core', 'qubesxml', 'qubes-xml.ts');
  await build({
    stdin: {
      contents:
        `import { readFileSync } from 'node:fs';\n` +
        `import { parseQubesXml } from ${JSON.stringify(reader)};\n` +
        `const bytes = readFileSync(process.argv[2]);\n` +
        `const n = process.argv[3] === 'parse' ? parseQubesXml(bytes).qubes.length : 0;\n` +
        `process.stdout.write(JSON.stringify({ n, maxRSS: process.resourceUsage().maxRSS }));\n`,
      resolveDir: dir,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    outfile: entry,
    logLevel: 'error',
  });
  const peak = (mode: string): { n: number; mb: number } => {
    const r = spawnSync(process.execPath, [entry, xmlPath, mode], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`one-parse process failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { n: number; maxRSS: number };
    return { n: out.n, mb: out.maxRSS / 1024 };
  };
  const one = [0, 1, 2].map(() => peak('parse'));
  if (one.some((o) => o.n !== DOMAINS)) throw new Error('the one-parse process did not read every domain');
  oneRssMb = one.map((o) => o.mb).sort((a, b) => a - b)[1] as number;
  baseRssMb = [0, 1, 2].map(() => peak('read').mb).sort((a, b) => a - b)[1] as number;
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `qubes.xml with ${DOMAINS} domains (${(xml.length / 1024 / 1024).toFixed(2)} MiB): median parse ` +
    `${median.toFixed(1)} ms over ${runs} runs (min ${(times[0] as number).toFixed(1)}, ` +
    `max ${(times[times.length - 1] as number).toFixed(1)}; CPU time median ${cpuMedian.toFixed(1)} ms); ` +
    `peak RSS of one parse in a fresh node process ${oneRssMb.toFixed(1)} MB (${baseRssMb.toFixed(1)} MB without ` +
    `the parse); this process (tsx, ${runs + 3} parses) ${loopRssMb.toFixed(1)} MB; targets ≤ 100 ms, ≤ 100 MB`,
);
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({ xmlParse1000Ms: Number(median.toFixed(1)), xmlParse1000RssMb: Number(oneRssMb.toFixed(1)) }),
  );
}
