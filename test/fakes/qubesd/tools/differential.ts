// Differential check of the fake against a real qubesd (e.g. a qubesd lab):
// seeds a fake from the real daemon's qubes.xml, sends the same calls to both, and prints every
// reply that differs after normalising uuids, object addresses and the path mapping.
//
//   node --import tsx test/fakes/qubesd/tools/differential.ts --socket REAL.sock \
//        --qubes-xml REAL/qubes.xml [--map REALPATH=SEEDPATH …] scenario.json …
//
// A scenario is a JSON list of calls [method, arg, dest, payload?, source?]. The scenarios here
// only create and remove qubes named wq-fake-* and never start one (the lab cannot remove a
// qube it has started). Random values (new uuids, dispid, clone tokens) are normalised. Exit
// status 1 when a reply differs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { rawCall, startFakeQubesd } from '../index.ts';

const Scenario = z.array(z.tuple([z.string(), z.string(), z.string()]).rest(z.string()));

function args(argv: string[]): { socket: string; xml: string; maps: Array<[string, string]>; files: string[] } {
  let socket: string | undefined;
  let xml: string | undefined;
  const maps: Array<[string, string]> = [];
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--socket') socket = argv[++i];
    else if (a === '--qubes-xml') xml = argv[++i];
    else if (a === '--map') {
      const [from, to] = (argv[++i] ?? '').split('=');
      if (from === undefined || to === undefined) throw new Error('--map needs REALPATH=SEEDPATH');
      maps.push([from, to]);
    } else files.push(a);
  }
  if (socket === undefined || xml === undefined || files.length === 0) {
    throw new Error('usage: differential.ts --socket S --qubes-xml F [--map A=B] scenario.json…');
  }
  return { socket, xml, maps, files };
}

const { socket, xml, maps, files } = args(process.argv.slice(2));
const mapPaths = (s: string): string => maps.reduce((acc, [from, to]) => acc.split(from).join(to), s);
const seed = mapPaths(readFileSync(xml, 'utf8'));
const root = mkdtempSync(join(tmpdir(), 'wq-differential-'));
const fake = await startFakeQubesd({
  qubesXml: seed,
  poolsDir: root,
  reportSeedPaths: true,
  volumeFileSize: 'declared',
});
const norm = (s: string): string =>
  mapPaths(s)
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/ at 0x[0-9a-f]+ /g, ' at 0x… ')
    // random per run: a new disposable's dispid (and the IP derived from it), clone tokens
    .replace(/dispid( default=False type=int |=)\d+/g, 'dispid$1<random>')
    .replace(/10\.138\.\d+\.\d+/g, '10.138.<dispid>')
    .replace(/^0\0[A-Za-z0-9_-]{32}$/, '0\0<token>');
let same = 0;
let total = 0;
for (const file of files) {
  for (const [method, arg, dest, payload, src] of Scenario.parse(JSON.parse(readFileSync(file, 'utf8')))) {
    total++;
    const req = Buffer.concat([
      Buffer.from(`${method}+${arg} ${src ?? 'dom0'} name ${dest}\0`),
      Buffer.from(payload ?? '', 'utf8'),
    ]);
    const real = (await rawCall(socket, req)).toString('utf8');
    const mine = (await rawCall(fake.socketPath, req)).toString('utf8');
    if (norm(real) === norm(mine)) {
      same++;
      continue;
    }
    console.log(
      `DIFF ${method}+${arg} ${dest} ${JSON.stringify(payload ?? '')}\n  real: ` +
        `${JSON.stringify(real)}\n  fake: ${JSON.stringify(mine)}`,
    );
  }
}
console.log(`${same}/${total} replies equal`);
await fake.stop();
rmSync(root, { recursive: true, force: true });
process.exit(same === total ? 0 : 1);
