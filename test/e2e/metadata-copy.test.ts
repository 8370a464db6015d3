// dom0's copy of a session's metadata (adapters/metadata-cache.ts, issue 17): the backup keeps
// the tarball it sent, so a restore of that session lists the archive and receives the data —
// two Wyng processes, no metadata receive — and restores exactly what a receive would have
// given. Without the copy the metadata is received once and kept; `verify` always receives;
// `list --session` reads the copy; a copy that is not readable is received again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { METADATA_CACHE_DIR } from '../../src/adapters/metadata-cache.ts';
import {
  assertRestored,
  removeQubeLikeQubesd,
  restoreLab,
  wyngSince as wyngProcessesSince,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

const copyDir = (): string => join(lab.sim.stateDir, METADATA_CACHE_DIR);
const copies = (): string[] => readdirSync(copyDir()).filter((f) => f.endsWith('.tgz'));

/** Wyng processes since `from`, without the calls themselves. */
function wyngSince(from: number): { list: number; metadata: number; data: number } {
  const { list, metadata, data } = wyngProcessesSince(lab.sim, from);
  return { list, metadata, data };
}

test('the backup kept what it sent (0600 in a 0700 dir); a restore of it receives only the data', async () => {
  assert.equal(copies().length, 1, 'one copy: the backed-up session');
  assert.equal(statSync(copyDir()).mode & 0o777, 0o700);
  assert.equal(statSync(join(copyDir(), copies()[0]!)).mode & 0o777, 0o600);

  await removeQubeLikeQubesd(lab.sim, lab.client(), 'work');
  const w = lab.sim.wyngCalls().length;
  const r = await lab.restore(['work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.deepEqual(wyngSince(w), { list: 1, metadata: 0, data: 1 });
  await assertRestored(lab, ['work']);
});

test('no copy: received once and kept; list --session and the next restore read it', async () => {
  for (const f of copies()) writeFileSync(join(copyDir(), f), 'not a copy'); // unreadable: dropped
  let w = lab.sim.wyngCalls().length;
  await lab.client().setProperty('work', 'memory', 999);
  const first = await lab.restore(['work']);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(wyngSince(w), { list: 1, metadata: 1, data: 1 });
  assert.equal(copies().length, 1);

  w = lab.sim.wyngCalls().length;
  const listed = await lab.sim.run(['list', '--dest', lab.sim.archiveUrl, '-u', '--json', '--session', lab.session]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(wyngSince(w), { list: 1, metadata: 0, data: 0 });

  await lab.client().setProperty('work', 'memory', 998);
  w = lab.sim.wyngCalls().length;
  const second = await lab.restore(['work']);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(wyngSince(w), { list: 1, metadata: 0, data: 1 });
  await assertRestored(lab, ['work']);
});

test('verify always receives the metadata from the archive', async () => {
  const w = lab.sim.wyngCalls().length;
  const r = await lab.sim.run([
    'verify',
    '--dest',
    lab.sim.archiveUrl,
    '-u',
    '--json',
    '--session',
    lab.session,
    'work',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(wyngSince(w).metadata, 1);
});
