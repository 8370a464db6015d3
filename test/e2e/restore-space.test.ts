// Space pre-flight of a restore (issue 19 §3) against the simulator: the plan shows per pool what
// the receive needs and what admin.pool.UsageDetails says is free. The need is the data each
// volume held at backup time (the session's volume record, written by backup); a pool that
// cannot hold it refuses the restore before any write (exit 5, per pool: needed, free), --force
// goes on. An archive without the record (wyng-util-qubes' own) only has Wyng's logical sizes,
// upper bounds of sparse volumes: a pool that looks too small by those is a warning.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { replaceSessionVolume } from '../helpers/archive-tamper.ts';
import { restoreLab, writes, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';
import { makeTgz } from '../helpers/tarball.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

interface SpaceRow {
  target: string;
  needed: number;
  measured: number;
  free: number | null;
  short: boolean;
  refused: boolean;
}

const exists = async (name: string): Promise<boolean> => (await lab.client().listQubes()).some((q) => q.name === name);

test('the plan shows per target pool the recorded data the receive needs and the free bytes', async () => {
  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'copy-a', 'work']);
  assert.equal(dry.code, 0, dry.stderr);
  const space = (dry.json!.result as { space: SpaceRow[] }).space;
  const globals = await lab.client().getAllGlobals();
  const pool = globals.get('default_pool_private')?.value || globals.get('default_pool')!.value;
  assert.equal(space.length, 1);
  const row = space[0]!;
  assert.equal(row.target, pool);
  // the volume record holds the pool's usage at backup time: the data, in whole file-system blocks
  const size = lab.data.get('work/private')!.length;
  assert.ok(row.needed >= size && row.needed < size + 65536, `${row.needed} vs ${size}`);
  assert.equal(row.measured, row.needed, 'every figure comes from the record');
  assert.equal(typeof row.free, 'number');
  assert.ok(row.free! > row.needed);
  assert.equal(row.short, false);
  assert.equal(row.refused, false);
  const human = await lab.cli([
    'restore',
    '--dry-run',
    '-u',
    '--dest',
    lab.sim.archiveUrl,
    '--session',
    lab.session,
    '--as',
    'copy-a',
    'work',
  ]);
  assert.match(
    human.stdout,
    new RegExp(`Space in the target pools:\\n  ${pool}: needs up to 0\\.3 MiB, [0-9.]+ MiB free`),
  );
});

test('a pool too small for the recorded data: refused before any write (exit 5); --force goes on', async () => {
  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'copy-b', 'work']);
  const [row] = (dry.json!.result as { space: SpaceRow[] }).space;
  lab.sim.qubesd.state.poolFree = new Map([[row!.target, 4096]]);
  try {
    const planned = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'copy-b', 'work']);
    assert.equal(planned.code, 0, planned.stderr);
    const short = (planned.json!.result as { space: SpaceRow[] }).space[0]!;
    assert.deepEqual(short, { ...row!, free: 4096, short: true, refused: true });
    assert.match(planned.stderr + planned.stdout, /TOO SMALL/);
    assert.match(
      planned.stderr + planned.stdout,
      /The restore would stop here: Not enough space.* Use --force to go on anyway/,
    );

    const mark = lab.mark();
    const r = await lab.restore(['--session', lab.session, '--as', 'copy-b', 'work']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `Not enough space for the restore: ${row!.target} needs 0\\.3 MiB, has 0\\.0 MiB free\\. ` +
          'Nothing was written; use --force to go on anyway\\.',
      ),
    );
    assert.equal(r.json!.errors[0]?.kind, 'storage');
    assert.deepEqual(writes(lab.callsSince(mark)), [], 'no Admin API write');
    assert.equal(await exists('copy-b'), false);

    for (const [name, flag] of [
      ['copy-b', '--force'],
      ['copy-c', '--ignore-space'],
    ] as const) {
      const forced = await lab.restore(['--session', lab.session, flag, '--as', name, 'work']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stderr, /Warning: Not enough space for the restore: .* Going on \(--force\)\./);
      const path = lab.sim.qubesd.volumePath(name, 'private')!;
      assert.equal(Buffer.compare(readFileSync(path), lab.data.get('work/private')!), 0);
    }
  } finally {
    delete lab.sim.qubesd.state.poolFree;
  }
});

test('no volume record (a wyng-util-qubes archive): listed sizes only warn, the restore goes on', async () => {
  // the metadata volume as wyng-util-qubes writes it: the Qubes dir's files, no volume record
  await replaceSessionVolume(
    lab.sim.archiveUrl,
    'wyng-qubes-metadata',
    lab.session,
    makeTgz([{ name: 'qubes.xml', data: lab.sim.qubesd.dumpQubesXml() }]),
  );
  const dry = await lab.restore(['--dry-run', '--allow-rollback', '--session', lab.session, '--as', 'copy-d', 'work']);
  assert.equal(dry.code, 0, dry.stderr);
  const [row] = (dry.json!.result as { space: SpaceRow[] }).space;
  assert.equal(row!.measured, 0, 'nothing is recorded');
  assert.equal(row!.needed, lab.data.get('work/private')!.length, "Wyng's listed size");
  lab.sim.qubesd.state.poolFree = new Map([[row!.target, 4096]]);
  try {
    const r = await lab.restore(['--allow-rollback', '--session', lab.session, '--as', 'copy-d', 'work']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Warning: the restore may not fit: .* These are the volumes' listed sizes/);
    assert.equal(await exists('copy-d'), true);
  } finally {
    delete lab.sim.qubesd.state.poolFree;
  }
});
