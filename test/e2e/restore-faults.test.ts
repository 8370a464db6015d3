// Faults during a restore, end to end: a Wyng receive failure for one volume, and a qubesd
// error on the N-th Admin API call for EVERY N of a whole restore (N from 1 to the call count
// of a clean run of the same restore; every eighth N also as a dropped connection). For each:
//   - the run reports the fault (exit 1 only from the planning reads, and then nothing was
//     written; else exit 2 naming the failed qubes);
//   - every qube reported restored equals the archive (settings, notes, bytes) and carries no
//     `backup-restore-in-progress`; a fault addressed to one qube fails that qube only;
//   - a failed qube that this run changed keeps `backup-restore-in-progress` (a qube created
//     by this run is never left behind half-made without it);
//   - a rerun without the fault converges: everything equals the archive, no tag left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { IN_PROGRESS_TAG } from '../../src/core/restore/diff.ts';
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import {
  assertRestored,
  removeQubeLikeQubesd,
  restoreLab,
  type LabRun,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

const QUBES = ['personal', 'sys-net', 'vault', 'work'];
let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

interface Outcome {
  name: string;
  status: string;
  error?: string;
}

/** Damage of every kind, from the restored state: overwrite, create, replace-class, device identity. */
async function damage(): Promise<void> {
  const c = lab.client();
  await c.setProperty('work', 'memory', 1234);
  await c.setTag('work', 'stray');
  await c.removeFeature('work', 'service.crond');
  await c.setFirewall('work', ['action=drop']);
  writeFileSync(lab.sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 7));
  await removeQubeLikeQubesd(lab.sim, c, 'personal');
  await removeQubeLikeQubesd(lab.sim, c, 'vault');
  await c.createQube({ klass: 'StandaloneVM', name: 'vault', label: 'red' });
  for (const a of await c.assignedDevices('sys-net', 'pci')) await c.unassignDevice('sys-net', a);
  await c.assignDevice('sys-net', {
    devclass: 'pci',
    backend: 'dom0',
    port: '00_03.0',
    deviceId: '*',
    mode: 'required',
    options: {},
  });
}

function restore(env?: Record<string, string>): Promise<LabRun> {
  return lab.restore(['--session', lab.session, ...QUBES], env ? { env } : {});
}

const lastSeq = (): number => lab.sim.qubesd.callLog.at(-1)?.seq ?? 0;

async function assertConverges(context: string): Promise<void> {
  const r = await restore();
  assert.equal(r.code, 0, `${context}: the rerun converges\n${r.stderr}\n${r.stdout}`);
  await assertRestored(lab, QUBES);
  for (const q of QUBES)
    assert.equal(
      await lab.client().hasTag(q, IN_PROGRESS_TAG),
      false,
      `${context}: ${q} has no ${IN_PROGRESS_TAG} after the rerun`,
    );
}

test('a Wyng receive failure for one volume fails that qube only; it keeps the tag; a rerun converges', async () => {
  await damage();
  const volume = 'appvms/work/private.img';
  const r = await restore({ WYNG_FAKE_FAIL: `receive-volume:${volume}` });
  assert.equal(r.code, 2, `${r.stderr}\n${r.stdout}`);
  assert.match(r.stderr + r.stdout, /Error for VMs: work/);
  const outcomes = (r.json!.result as { qubes: Outcome[] }).qubes;
  assert.deepEqual(outcomes.map((q) => [q.name, q.status]).sort(), [
    ['personal', 'restored'],
    ['sys-net', 'restored'],
    ['vault', 'restored'],
    ['work', 'failed'],
  ]);
  assert.match(
    outcomes.find((q) => q.name === 'work')!.error!,
    /Wyng could not restore volume 'appvms\/work\/private\.img'/,
  );
  await assertRestored(lab, ['personal', 'sys-net', 'vault']);
  for (const q of ['personal', 'sys-net', 'vault'])
    assert.equal(await lab.client().hasTag(q, IN_PROGRESS_TAG), false, q);
  assert.equal(await lab.client().hasTag('work', IN_PROGRESS_TAG), true, 'work keeps backup-restore-in-progress');
  assert.deepEqual(
    readFileSync(lab.sim.qubesd.volumePath('work', 'private')!),
    Buffer.alloc(256 * 1024, 7),
    'the failed volume was not touched by the fake',
  );
  await assertConverges('after the Wyng failure');
});

test(
  'a qubesd error on the N-th call, for every N of a whole restore: the others are restored, ' +
    'the failed one keeps the tag, a rerun converges',
  { timeout: 900_000 },
  async () => {
    // the clean run gives the call count (and heals the system)
    await damage();
    const mark = lab.mark();
    const clean = await restore();
    assert.equal(clean.code, 0, `${clean.stderr}\n${clean.stdout}`);
    const total = lab.callsSince(mark).length;
    assert.ok(total > 30, `a whole restore makes ${total} calls`);
    await assertRestored(lab, QUBES);

    const seen = { exit1: 0, exit2: 0, failedQubes: new Set<string>() };
    for (let n = 1; n <= total; n++) {
      for (const kind of n % 8 === 0 ? (['fail', 'drop'] as const) : (['fail'] as const)) {
        const context = `${kind} on call ${n} of ${total}`;
        await damage();
        const before = new Set((await lab.client().listQubes()).map((q) => q.name));
        const base = lastSeq();
        lab.sim.qubesd.setFaults(kind === 'fail' ? { failOnCall: base + n } : { dropOnCall: base + n });
        const m = lab.mark();
        let r: LabRun;
        try {
          r = await restore();
        } finally {
          lab.sim.qubesd.setFaults({});
        }
        const calls = lab.callsSince(m);
        const faulted = calls.find((x) => x.seq === base + n);
        const what = faulted ? `${context} (${faulted.method}+${faulted.arg} on ${faulted.dest})` : context;
        assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `${what}: exit ${r.code}\n${r.stderr}`);
        assert.ok(r.json, `${what}: a JSON result`);
        assert.ok(!/at .+\.ts:\d+/.test(r.stdout + r.stderr), `${what}: no stack trace`);
        if (r.code === 1) {
          seen.exit1 += 1;
          assert.ok(faulted, what);
          assert.equal(r.json!.errors[0]?.kind, 'admin-api', what);
          assert.deepEqual(okWrites(calls), [], `${what}: a fatal error only before anything was written`);
        } else {
          if (r.code === 2) seen.exit2 += 1;
          await checkOutcomes(r, calls, faulted, before, what, seen.failedQubes);
        }
        await assertConverges(what);
      }
    }
    // the loop really went through the interesting cases
    assert.ok(seen.exit1 > 0, 'some faults hit the planning reads');
    assert.ok(seen.exit2 > total / 2, `most faults failed a qube (${seen.exit2} of ${total})`);
    assert.deepEqual([...seen.failedQubes].sort(), QUBES, 'every qube was the failed one for some N');
  },
);

function okWrites(calls: readonly CallLogEntry[]): string[] {
  return calls.filter((c) => c.writes && c.outcome === 'ok').map((c) => `${c.method}+${c.arg} ${c.dest}`);
}

async function checkOutcomes(
  r: LabRun,
  calls: readonly CallLogEntry[],
  faulted: CallLogEntry | undefined,
  before: Set<string>,
  what: string,
  failedSeen: Set<string>,
): Promise<void> {
  const outcomes = (r.json!.result as { qubes: Outcome[] }).qubes;
  assert.deepEqual(outcomes.map((q) => q.name).sort(), QUBES, what);
  const failed = outcomes.filter((q) => q.status === 'failed').map((q) => q.name);
  const restored = outcomes.filter((q) => q.status === 'restored').map((q) => q.name);
  assert.equal(failed.length + restored.length, QUBES.length, what);
  if (r.code === 0) assert.deepEqual(failed, [], what);
  else {
    assert.ok(failed.length > 0, what);
    assert.match(r.stderr + r.stdout, new RegExp(`Error for VMs: ${failed.join(', ')}`), what);
  }
  for (const f of failed) failedSeen.add(f);
  // a fault addressed to one of the qubes fails that qube only
  if (faulted && QUBES.includes(faulted.dest))
    assert.deepEqual(
      failed.filter((f) => f !== faulted.dest),
      [],
      `${what}: only ${faulted.dest} may fail`,
    );
  await assertRestored(lab, restored);
  const live = new Set((await lab.client().listQubes()).map((q) => q.name));
  for (const q of restored)
    assert.equal(await lab.client().hasTag(q, IN_PROGRESS_TAG), false, `${what}: restored ${q} has no tag`);
  for (const f of failed) {
    if (!live.has(f)) {
      // only a qube being replaced or created may be absent (removed and not re-created)
      assert.ok(f === 'vault' || f === 'personal', `${what}: ${f} disappeared`);
      continue;
    }
    if (await lab.client().hasTag(f, IN_PROGRESS_TAG)) continue;
    const changed = calls.some((c) => c.dest === f && c.writes && c.outcome === 'ok');
    assert.ok(before.has(f), `${what}: ${f} was created by this run and left without ${IN_PROGRESS_TAG}`);
    const tagFault = faulted?.dest === f && faulted.method === 'admin.vm.tag.Set';
    assert.ok(!changed || tagFault, `${what}: failed ${f} was changed but has no ${IN_PROGRESS_TAG}`);
  }
  for (const q of before) if (!['vault', 'personal'].includes(q)) assert.ok(live.has(q), `${what}: ${q} disappeared`);
}
