/**
 * Read every setting of 200 qubes through the Admin API client against the fake qubesd seeded
 * with a generated qubes.xml: wall time (median of runs, each with a fresh client = cold
 * cache), total calls and calls per qube. Targets (issue 4): ≤ 3 calls per qube + 1, < 300 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../src/adapters/qubesd/index.ts';
import { startFakeQubesd } from '../test/fakes/qubesd/index.ts';
import { generateQubesXml } from './gen-qubes-xml.ts';
import { emit, median } from './sim-bench.ts';

const N = 200;
const dir = mkdtempSync(join(tmpdir(), 'wq-bench-read-'));
const fake = await startFakeQubesd({
  qubesXml: generateQubesXml(N + 1),
  poolsDir: join(dir, 'root'),
  socketPath: join(dir, 's.sock'),
  volumeFileSize: 4096,
});
try {
  const times: number[] = [];
  let calls = 0;
  let qubes = 0;
  for (let run = 0; run < 5; run += 1) {
    const client = new AdminClient(new SocketTransport({ socketPath: fake.socketPath, timeoutMs: 10000 }));
    const t0 = performance.now();
    const names = (await client.listQubes()).filter((q) => q.klass !== 'AdminVM').map((q) => q.name);
    const settings = await client.readQubeSettings(names, { devices: 'all' });
    times.push(performance.now() - t0);
    calls = client.log.summary().calls;
    qubes = settings.size;
  }
  const ms = median(times);
  emit(
    `settings read of ${qubes} qubes: median ${ms.toFixed(1)} ms, ${calls} Admin API calls ` +
      `(${(calls / qubes).toFixed(2)} per qube; features need one Get each, devices one call per class)`,
    { settingsRead200: { ms: Number(ms.toFixed(1)), calls, callsPerQube: Number((calls / qubes).toFixed(2)) } },
  );
} finally {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
