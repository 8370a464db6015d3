// Issue 16 §5: an interrupted restore names the qubes it left with `backup-restore-in-progress` and the
// command that finishes the job; `restore --dry-run` names qubes an earlier run left so (text, not only JSON).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { IN_PROGRESS_TAG } from '../../src/core/restore/diff.ts';
import { buildSandbox } from '../helpers/sim.ts';
import { restoreLab, type RestoreLab } from '../helpers/restore-lab.ts';

const QUBES = ['personal', 'vault', 'work'];
let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

test('an interrupted restore names the tagged qubes and the command to finish; the dry run names them', async () => {
  for (const q of QUBES) writeFileSync(lab.sim.qubesd.volumePath(q, 'private')!, Buffer.alloc(256 * 1024, 7));
  const r = await lab.restore(['--session', lab.session, ...QUBES], { env: { WYNG_FAKE_FAIL: 'interrupt-after:2' } });
  assert.equal(r.code, 8, `${r.stderr}\n${r.stdout}`);
  const tagged: string[] = [];
  for (const q of QUBES) if (await lab.client().hasTag(q, IN_PROGRESS_TAG)) tagged.push(q);
  assert.ok(tagged.length > 0, 'the interrupted receive left tagged qubes');
  assert.match(r.stderr, /\nInterrupted: /);
  assert.ok(r.stderr.includes(`keep the tag ${IN_PROGRESS_TAG}`), r.stderr);
  assert.ok(r.stderr.includes(`${tagged.join(', ')}.`), r.stderr);
  const m = /To finish: (wyng-qubes restore .*)\n/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.ok(m[1]!.endsWith(`--session ${lab.session} ${tagged.join(' ')}`), m[1]);

  const dry = await lab.cli([
    'restore',
    '--allow-reach=all',
    '--dest',
    lab.sim.archiveUrl,
    '-u',
    '--dry-run',
    '--session',
    lab.session,
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.ok(
    dry.stdout.includes(`Left unfinished by an earlier restore (tag ${IN_PROGRESS_TAG}): ${tagged.join(', ')}.`),
    dry.stdout,
  );

  // the command it names finishes the job
  const args = m[1]!.split(' ').slice(1);
  const fin = await lab.cli([...args, '-u', '--allow-reach=all', '--no-qubes-post']);
  assert.equal(fin.code, 0, `${fin.stderr}\n${fin.stdout}`);
  for (const q of tagged) assert.equal(await lab.client().hasTag(q, IN_PROGRESS_TAG), false, q);
});
