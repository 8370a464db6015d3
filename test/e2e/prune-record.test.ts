// dom0's backup record stays current when sessions or qubes are removed through wyng-qubes itself
// (issue 14 §5): a prune that removes a qube's newest Qubes session, or a delete of a qube, is not
// reported as a rollback by a later restore of "the newest session" (the same removal behind dom0's
// back still is: test/e2e/restore-rollback.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupRecordSchema, type BackupRecord } from '../../src/core/restore/rollback.ts';
import { restoreLab, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

let lab: RestoreLab;
/** S1: every lab qube; S2: work only; S3: all but work */
let S1: string;
let S2: string;
let S3: string;

async function backup(...qubes: string[]): Promise<string> {
  const r = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', ...qubes]);
  assert.equal(r.code, 0, r.stderr);
  return (r.json!.result as { session: string }).session;
}

function recorded(): BackupRecord['archives'][string] {
  const record = BackupRecordSchema.parse(JSON.parse(readFileSync(join(lab.sim.stateDir, 'backups.json'), 'utf8')));
  return Object.values(record.archives)[0]!;
}

before(async () => {
  lab = await restoreLab(await buildSandbox());
  S1 = lab.session;
  S2 = await backup('work');
  S3 = await backup(...lab.qubes.filter((q) => q !== 'work'));
  // Wyng never prunes a volume's newest session (in any volume): work's volume gets a later session
  // without the metadata volume first — a plain Wyng send, as a user's own Wyng run makes (no removal)
  const localFrom = join(lab.sim.dir, 'plain-wyng-vols.json');
  const vol = 'appvms/work/private.img';
  const volPath = lab.sim.qubesd.volumePath('work', 'private')!;
  assert.ok(volPath.endsWith(`/${vol}`), volPath);
  writeFileSync(localFrom, JSON.stringify({ [volPath.slice(0, -vol.length - 1)]: [[vol, vol]] }));
  const sent = await lab.sim.fakeWyng([`--local-from=${localFrom}`, '--send-unchanged', 'send'], {
    WYNG_FAKE_NOW: String(Math.floor(Date.now() / 1000) + 3600),
  });
  assert.equal(sent.code, 0, sent.stderr);
});

after(async () => {
  await lab?.stop();
});

test('a prune through wyng-qubes of the session holding work newest: the record forgets it, no rollback', async () => {
  assert.deepEqual(Object.keys(recorded()).sort(), [S1, S2, S3]);
  // work's S2 merges into the plain session, the metadata's S2 into S3: work's newest Qubes session
  // is S1 again — the archive of the rollback test, but pruned through wyng-qubes
  const pruned = await lab.cli(['prune', '--dest', lab.sim.archiveUrl, '-u', '--json', '--all', '--session', S2]);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.deepEqual(Object.keys(recorded()).sort(), [S1, S3], 'S2 left the record');
  await lab.client().setProperty('work', 'memory', 1234);
  const r = await lab.restore(['work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const result = r.json!.result as { session: string; rollback: { findings: Array<{ kind: string }> } };
  assert.equal(result.session, S1);
  assert.deepEqual(
    result.rollback.findings.map((f) => f.kind),
    [],
    'no rollback reported for our own prune',
  );
  assert.equal((await lab.client().getProperty('work', 'memory')).value, lab.archived.get('work')!.properties.memory);
});

test('a delete through wyng-qubes: the qube and its volumes leave every recorded session', async () => {
  const before = recorded();
  assert.ok(before[S1]!.qubes.includes('vault'));
  const r = await lab.cli(['delete', '--dest', lab.sim.archiveUrl, '-u', '--json', 'vault']);
  assert.equal(r.code, 0, r.stderr);
  const now = recorded();
  for (const [session, entry] of Object.entries(now)) {
    assert.ok(!entry.qubes.includes('vault'), session);
    assert.ok(!entry.volumes.some((v) => v.includes('/vault/')), session);
  }
  // the other qubes' entries are untouched
  assert.deepEqual(
    now[S1]!.qubes,
    before[S1]!.qubes.filter((q) => q !== 'vault'),
  );
  assert.equal(now[S3]!.metadataSha256, before[S3]!.metadataSha256);
});

test('without a record of the archive, a prune runs no further Wyng list', async () => {
  const env = { WYNG_QUBES_STATE_DIR: join(lab.sim.dir, 'fresh-state') };
  const w = lab.sim.wyngCalls().length;
  const r = await lab.cli(['prune', '--dest', lab.sim.archiveUrl, '-u', '--json', '--session', S1, 'personal'], {
    env,
  });
  assert.equal(r.code, 0, r.stderr);
  const lists = lab.sim
    .wyngCalls()
    .slice(w)
    .filter((c) => c.argv.includes('list'));
  assert.equal(lists.length, 1);
});
