// dev-only differential check: the same calls against the lab qubesd and the fake (not committed)
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeQubesd, rawCall } from './index.ts';

const LAB = '/work/lab/qubesd-lab/state/qubesd.sock';
const labXml = readFileSync('/work/lab/qubesd-lab/var-lib-qubes/qubes.xml', 'utf8')
  .replaceAll('/work/lab/qubesd-lab/var-lib-qubes', '/var/lib/qubes')
  .replaceAll('/work/lab/qubesd-lab/pool2', '/mnt/vm-pool');
const calls: Array<[string, string, string, string?, string?]> = JSON.parse(readFileSync(process.argv[2] as string, 'utf8'));
const fake = await startFakeQubesd({ qubesXml: labXml, poolsDir: mkdtempSync(join(tmpdir(), 'wqdiff-')), reportSeedPaths: true, volumeFileSize: 'declared' });
const norm = (s: string) => s.replaceAll('/work/lab/qubesd-lab/var-lib-qubes', '/var/lib/qubes').replaceAll('/work/lab/qubesd-lab/pool2', '/mnt/vm-pool')
  .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>').replace(/ at 0x[0-9a-f]+ /g, ' at 0x ');
let same = 0;
for (const [method, arg, dest, payload, src] of calls) {
  const req = Buffer.concat([Buffer.from(`${method}+${arg} ${src ?? 'dom0'} name ${dest}\0`), Buffer.from(payload ?? '', 'utf8')]);
  const a = (await rawCall(LAB, req)).toString('utf8');
  const b = (await rawCall(fake.socketPath, req)).toString('utf8');
  if (norm(a) === norm(b)) { same++; if (process.env.V) console.log(`SAME ${method}+${arg} ${dest} ${JSON.stringify(a).slice(0, 150)}`); continue; }
  console.log(`DIFF ${method}+${arg} ${dest} ${JSON.stringify(payload ?? '')}\n  lab:  ${JSON.stringify(a)}\n  fake: ${JSON.stringify(b)}`);
}
console.log(`${same}/${calls.length} same`);
await fake.stop();
