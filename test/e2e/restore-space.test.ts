// Space pre-flight of a restore (issue 19 §3) against the simulator: the plan shows per pool what
// the receive needs (the archive's volume sizes) and what admin.pool.UsageDetails says is free; a
// pool that looks too small is named before any write (per pool: needed, free) and the restore
// goes on, since Wyng lists logical sizes of sparse volumes; --ignore-space silences the warning.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { restoreLab, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

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
  free: number | null;
  short: boolean;
}

test('the plan shows needed and free bytes per target pool', async () => {
  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'copy-a', 'work']);
  assert.equal(dry.code, 0, dry.stderr);
  const space = (dry.json!.result as { space: SpaceRow[] }).space;
  const globals = await lab.client().getAllGlobals();
  const pool = globals.get('default_pool_private')?.value || globals.get('default_pool')!.value;
  assert.equal(space.length, 1);
  assert.equal(space[0]!.target, pool);
  assert.equal(space[0]!.needed, lab.data.get('work/private')!.length);
  assert.equal(typeof space[0]!.free, 'number');
  assert.ok(space[0]!.free! > space[0]!.needed);
  assert.equal(space[0]!.short, false);
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

test('a pool that looks too small: named in the plan, a warning before any write, the restore goes on', async () => {
  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'copy-b', 'work']);
  const [row] = (dry.json!.result as { space: SpaceRow[] }).space;
  lab.sim.qubesd.state.poolFree = new Map([[row!.target, 4096]]);
  try {
    const planned = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'copy-b', 'work']);
    const short = (planned.json!.result as { space: SpaceRow[] }).space[0]!;
    assert.deepEqual(short, { target: row!.target, needed: row!.needed, free: 4096, short: true });

    const r = await lab.restore(['--session', lab.session, '--as', 'copy-b', 'work']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`Not enough space for the restore: ${row!.target} needs up to 0\\.3 MiB, has 0\\.0 MiB free`),
    );
    assert.match(r.stderr, /usually need less; going on \(--ignore-space silences this\)/);
    assert.equal(
      (await lab.client().listQubes()).some((q) => q.name === 'copy-b'),
      true,
    );

    const path = lab.sim.qubesd.volumePath('copy-b', 'private')!;
    assert.equal(Buffer.compare(readFileSync(path), lab.data.get('work/private')!), 0);
    const quiet = await lab.restore(['--session', lab.session, '--ignore-space', '--as', 'copy-c', 'work']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /Not enough space/);
    assert.equal(Buffer.compare(readFileSync(path), lab.data.get('work/private')!), 0);
  } finally {
    delete lab.sim.qubesd.state.poolFree;
  }
});
