// app/space.ts restoreSpace: an overwritten volume whose pool qubesd's qubes.xml names costs no
// Admin API read while its pool has room for its whole archived size; only in a pool that looks
// too small is the space it holds read (admin.vm.volume.Info) and deducted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QubesSystem } from '../../src/app/ports.ts';
import { restoreSpace } from '../../src/app/space.ts';
import type { RestorePlan } from '../../src/core/restore/plan.ts';

const MiB = 1048576;

function system(free: number, fileKnowsPool: boolean) {
  const usageReads: string[] = [];
  const live = {
    globalValues: async () => ({ default_pool: 'varlibqubes' }),
    volumePoolFromFile: (q: string) => (fileKnowsPool && q === 'work' ? 'vm-pool' : undefined),
    volumeUsage: async (q: string, kind: string) => {
      usageReads.push(`${q}/${kind}`);
      return { pool: 'vm-pool', usage: 30 * MiB };
    },
    poolFree: async () => free,
  } as unknown as QubesSystem;
  return { live, usageReads };
}

const plan = {
  session: 's1',
  qubes: [
    {
      name: 'work',
      action: 'overwrite',
      fails: false,
      volumes: [{ kind: 'private', archiveName: 'appvms/work/private.img' }],
    },
  ],
} as unknown as RestorePlan;
const sizes = { 'appvms/work/private.img': { s1: 40 * MiB } };

test('a pool with room for the whole archived size: no usage read, needs up to the archived size', async () => {
  const { live, usageReads } = system(100 * MiB, true);
  const rows = await restoreSpace(live, plan, sizes, new Map(), null);
  assert.deepEqual(rows, [
    { target: 'vm-pool', needed: 40 * MiB, free: 100 * MiB, short: false, measured: 0, refused: false },
  ]);
  assert.deepEqual(usageReads, []);
});

test('a pool that looks too small: the usage is read and deducted', async () => {
  const { live, usageReads } = system(20 * MiB, true);
  const rows = await restoreSpace(live, plan, sizes, new Map(), null);
  assert.deepEqual(rows, [
    { target: 'vm-pool', needed: 10 * MiB, free: 20 * MiB, short: false, measured: 0, refused: false },
  ]);
  assert.deepEqual(usageReads, ['work/private']);
});

test('the file does not name the pool: read through the Admin API as before', async () => {
  const { live, usageReads } = system(100 * MiB, false);
  const rows = await restoreSpace(live, plan, sizes, new Map(), null);
  assert.deepEqual(rows, [
    { target: 'vm-pool', needed: 10 * MiB, free: 100 * MiB, short: false, measured: 0, refused: false },
  ]);
  assert.deepEqual(usageReads, ['work/private']);
});

test('recorded data: measured, refused only when it cannot fit beyond what the volume holds', async () => {
  const recorded = new Map([['appvms/work/private.img', 35 * MiB]]);
  const roomy = system(20 * MiB, true);
  assert.deepEqual(await restoreSpace(roomy.live, plan, sizes, recorded, null), [
    { target: 'vm-pool', needed: 5 * MiB, measured: 5 * MiB, free: 20 * MiB, short: false, refused: false },
  ]);
  assert.deepEqual(roomy.usageReads, ['work/private'], 'read only because 35 MiB looked too big for 20');
  const tight = system(4 * MiB, true);
  assert.deepEqual(await restoreSpace(tight.live, plan, sizes, recorded, null), [
    { target: 'vm-pool', needed: 5 * MiB, measured: 5 * MiB, free: 4 * MiB, short: true, refused: true },
  ]);
});
