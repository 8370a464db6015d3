/**
 * Backup of 50 qubes (small volumes) through the built bundle against the simulator: wall
 * time split into ours vs Wyng's (the fake Wyng stands in for Wyng, so "ours" is the figure
 * that matters), Admin API calls, and the metadata tar build time of a 1,000-domain qubes.xml.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildMetadataTar } from '../src/adapters/metadata/build.ts';
import { buildSandbox } from '../test/helpers/sim.ts';
import { generateQubesXml } from './gen-qubes-xml.ts';
import { emit, median } from './sim-bench.ts';

const N = 50;
const scratch = mkdtempSync(join(tmpdir(), 'wq-bench-backup-'));
const xmlPath = join(scratch, 'qubes.xml');
writeFileSync(xmlPath, generateQubesXml(N + 5));
const sim = await buildSandbox({ qubesd: { qubesXml: xmlPath, volumeFileSize: 64 * 1024 } });
try {
  const created = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u']);
  if (created.code !== 0) throw new Error(created.stderr);
  const ours: number[] = [];
  const wyng: number[] = [];
  let calls = 0;
  let qubes = 0;
  for (let run = 0; run < 3; run += 1) {
    const before = sim.qubesd.callLog.length;
    const r = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', '-i', '--json']);
    if (r.code !== 0 || !r.json) throw new Error(`backup failed: ${r.stderr}`);
    const res = r.json.result as { timing: { wyngMs: number; oursMs: number }; qubes: Array<{ status: string }> };
    ours.push(res.timing.oursMs);
    wyng.push(res.timing.wyngMs);
    calls = sim.qubesd.callLog.length - before;
    qubes = res.qubes.filter((q) => q.status === 'ok').length;
    await new Promise((resolve) => setTimeout(resolve, 1100)); // next session name
  }
  // metadata tar of a 1,000-domain qubes.xml
  const big = join(scratch, 'big');
  mkdirSync(join(big, 'appvms', 'q1'), { recursive: true });
  writeFileSync(join(big, 'qubes.xml'), generateQubesXml(1000));
  writeFileSync(join(big, 'appvms', 'q1', 'firewall.xml'), '<firewall version="2"><rules/></firewall>');
  const tarTimes: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const t0 = performance.now();
    await buildMetadataTar(big, join(scratch, `m${i}.tgz`));
    tarTimes.push(performance.now() - t0);
  }
  const o = median(ours);
  const w = median(wyng);
  emit(
    `backup of ${qubes} qubes: ours ${o.toFixed(0)} ms, (fake) Wyng ${w.toFixed(0)} ms, ` +
      `${calls} Admin API calls (${(calls / qubes).toFixed(2)} per qube incl. the backup_timestamp ` +
      `write); metadata tar of a 1,000-domain qubes.xml: ${median(tarTimes).toFixed(1)} ms`,
    {
      backup50: {
        oursMs: Math.round(o),
        wyngMs: Math.round(w),
        calls,
        callsPerQube: Number((calls / qubes).toFixed(2)),
        metadataTar1000Ms: Number(median(tarTimes).toFixed(1)),
      },
    },
  );
} finally {
  await sim.stop();
  rmSync(scratch, { recursive: true, force: true });
}
