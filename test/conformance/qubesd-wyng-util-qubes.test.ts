// Replays every Admin API call the ORIGINAL wyng-util-qubes 0.9 made in four restores against the
// real qubesd (test/data/qubesd/wyng-util-qubes-restore-calls.json, recorded through the
// real qubesadmin client) against the fake qubesd, and checks the replies byte for byte: a real
// client's call mix (pools, qube lookup, create in a pool, kill, properties one by one, features,
// devices, tags) on top of the transcripts. The runs were recorded one after the other on the
// daemon that had just answered the transcripts, so the fake starts from
// qubes-after-transcripts.xml with sys-net and sys-firewall running (as the lab left them), and
// each run's preparation (its `description`) is made before its calls.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { encodeRequest, startFakeQubesd, type FakeQubesd } from '../fakes/qubesd/index.ts';
import { QUBESD_RECORDING } from '../helpers/test-data.ts';

const DIR = QUBESD_RECORDING;

const RunSchema = z.object({
  run: z.string(),
  description: z.string(),
  calls: z.array(
    z.object({ method: z.string(), arg: z.string(), dest: z.string(), payload: z.string(), response: z.string() }),
  ),
});
const FileSchema = z.object({ runs: z.array(RunSchema) });

/** what each run's description says the recorder did before the run */
const PREPARATION: Record<string, Array<[string, string, string, string]>> = {
  'existing-halted-with-drift': [
    ['admin.vm.property.Set', 'memory', 'work', '1000'],
    ['admin.vm.property.Set', 'netvm', 'work', 'sys-net'],
    ['admin.vm.tag.Set', 'stale-tag', 'work', ''],
    ['admin.vm.feature.Set', 'stale-feature', 'work', '1'],
  ],
  'existing-running': [['admin.vm.Start', '', 'work', '']],
  'missing-created-in-pool': [['admin.vm.Remove', '', 'work-clone', '']],
  'template-existing': [],
};

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

describe('wyng-util-qubes 0.9 restores replayed against the fake qubesd', () => {
  const runs = FileSchema.parse(JSON.parse(readFileSync(join(DIR, 'wyng-util-qubes-restore-calls.json'), 'utf8'))).runs;
  const seedXml = readFileSync(join(DIR, 'qubes-after-transcripts.xml'), 'utf8');
  const seedUuids = new Set(seedXml.match(UUID) ?? []);
  // pool size/usage depend on the host; a re-created qube gets a new uuid
  const normalise = (t: string): string =>
    t
      .replace(UUID, (u) => (seedUuids.has(u) ? u : '<new-uuid>'))
      .replace(/(?<=^|\n|\0)(size|usage)=\d+(?=\n)/g, '$1=<host>');
  let fake: FakeQubesd;
  let root: string;
  const counts = { exact: 0, normalised: 0 };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'wq-wuq-'));
    fake = await startFakeQubesd({
      qubesXml: seedXml,
      poolsDir: root,
      reportSeedPaths: true,
      volumeFileSize: 'declared',
      running: ['sys-net', 'sys-firewall'],
    });
  });
  after(async () => {
    await fake?.stop();
    rmSync(root, { recursive: true, force: true });
    console.log(`wyng-util-qubes restore calls: ${counts.exact} exact, ${counts.normalised} normalised`);
  });

  it('has the four recorded runs', () => {
    assert.deepEqual(runs.map((r) => r.run).sort(), Object.keys(PREPARATION).sort());
  });

  for (const run of runs) {
    it(`${run.run}: ${run.calls.length} calls answered like the real qubesd`, async () => {
      for (const [m, a, d, p] of PREPARATION[run.run] ?? []) {
        assert.equal((await fake.rawCall(encodeRequest(m, a, d, p))).toString('utf8'), '0\0', `preparation ${m} ${d}`);
      }
      const failures: string[] = [];
      for (const [i, call] of run.calls.entries()) {
        const got = (await fake.rawCall(encodeRequest(call.method, call.arg, call.dest, call.payload))).toString(
          'utf8',
        );
        if (got === call.response) counts.exact++;
        else if (normalise(got) === normalise(call.response)) counts.normalised++;
        else
          failures.push(
            `#${i} ${call.method}+${call.arg} ${call.dest}\n` +
              `  want: ${JSON.stringify(call.response)}\n  got:  ${JSON.stringify(got)}`,
          );
      }
      assert.equal(failures.length, 0, failures.join('\n'));
    });
  }
});
