/**
 * Parse time of a 1,000-domain qubes.xml with the archive reader (src/core/qubesxml):
 * median of N parses (env BENCH_RUNS, default 21) after 3 warm-up parses, and the process's
 * peak RSS. Target (issue 4): < 100 ms. With `--json` the last line is
 * `{"xmlParse1000Ms": …, "xmlParse1000RssMb": …}` for bench/run.ts.
 */
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
const rssMb = process.resourceUsage().maxRSS / 1024;

if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({ xmlParse1000Ms: Number(median.toFixed(1)), xmlParse1000RssMb: Number(rssMb.toFixed(1)) }),
  );
} else {
  console.log(
    `qubes.xml with ${DOMAINS} domains (${(xml.length / 1024 / 1024).toFixed(2)} MiB): median ` +
      `parse ${median.toFixed(1)} ms over ${runs} runs ` +
      `(min ${(times[0] as number).toFixed(1)}, max ` +
      `${(times[times.length - 1] as number).toFixed(1)}; CPU time median ${cpuMedian.toFixed(1)} ms); ` +
      `peak RSS ${rssMb.toFixed(1)} MB; target < 100 ms`,
  );
}
