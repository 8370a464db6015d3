// `restore --expect-plan=DIGEST` end to end (issue 14 §1 "Bind restore to its plan"): the digest
// printed by `--dry-run --json` binds the restore to that plan. Same archive and live state →
// restored; a live change or a different metadata volume in the same session after the dry run →
// refused with exit 9, a clear message and no Admin API write, no data received.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { replaceSessionVolume } from '../helpers/archive-tamper.ts';
import { restoreLab, writes, type LabRun, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';
import { makeTgz } from '../helpers/tarball.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

interface DryRunResult {
  planDigest: string;
  qubeDigests: Record<string, string>;
}

async function digestOf(args: string[]): Promise<DryRunResult> {
  const r = await lab.restore(['--dry-run', ...args]);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const result = r.json!.result as DryRunResult;
  assert.match(result.planDigest, /^[0-9a-f]{64}$/);
  return result;
}

function assertRefused(r: LabRun, mark: number): void {
  assert.equal(r.code, 9, `${r.stderr}\n${r.stdout}`);
  assert.match(r.stderr, /restore plan changed since it was approved/);
  assert.equal(r.json?.errors[0]?.kind, 'input');
  assert.deepEqual(writes(lab.callsSince(mark)), [], 'no Admin API write');
}

test('a dry run twice gives the same digest; the per-qube digest equals the plan of that qube alone', async () => {
  const a = await digestOf(['work', 'personal']);
  const b = await digestOf(['work', 'personal']);
  assert.equal(a.planDigest, b.planDigest);
  const alone = await digestOf(['work']);
  assert.equal(a.qubeDigests.work, alone.planDigest);
  assert.notEqual(a.planDigest, alone.planDigest);
});

test('--expect-plan with the planned digest restores', async () => {
  const c = lab.client();
  await c.setProperty('work', 'memory', 1234);
  const { planDigest } = await digestOf(['work']);
  const r = await lab.restore(['--expect-plan', planDigest, 'work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.equal((r.json!.result as { planDigest: string }).planDigest, planDigest);
  assert.equal((await lab.client().getProperty('work', 'memory')).value, lab.archived.get('work')!.properties.memory);
});

test('a live change after the dry run: --expect-plan refuses, nothing written, no data received', async () => {
  const c = lab.client();
  await c.setProperty('work', 'memory', 1234);
  const { planDigest } = await digestOf(['work']);
  await lab.client().setProperty('work', 'vcpus', 1); // the change the approver never saw
  const volume = lab.sim.qubesd.volumePath('work', 'private')!;
  writeFileSync(volume, Buffer.alloc(1024, 7));
  const m = lab.mark();
  const r = await lab.restore(['--expect-plan', planDigest, 'work']);
  assertRefused(r, m);
  assert.deepEqual(readFileSync(volume), Buffer.alloc(1024, 7), 'no data volume received');
  assert.equal((await lab.client().getProperty('work', 'memory')).value, '1234');
  // planned again, the new digest restores
  const again = await digestOf(['work']);
  assert.notEqual(again.planDigest, planDigest);
  const ok = await lab.restore(['--expect-plan', again.planDigest, 'work']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('another metadata volume in the same session after the dry run: refused', async () => {
  await lab.client().setProperty('personal', 'memory', 999);
  const { planDigest } = await digestOf(['personal']);
  const xml = lab.sim.qubesd.dumpQubesXml();
  await replaceSessionVolume(
    lab.sim.archiveUrl,
    'wyng-qubes-metadata',
    lab.session,
    makeTgz([{ name: 'qubes.xml', data: xml }]),
  );
  const m = lab.mark();
  const r = await lab.restore(['--expect-plan', planDigest, '--allow-rollback', 'personal']);
  assertRefused(r, m);
});

test('--expect-plan: only with restore, not with --dry-run, only a digest', async () => {
  const d = 'a'.repeat(64);
  for (const args of [
    ['list', '--expect-plan', d],
    ['restore', '--dry-run', '--expect-plan', d, 'work'],
    ['restore', '--expect-plan', 'ABC', 'work'],
  ]) {
    const r = await lab.cli([...args, '--dest', lab.sim.archiveUrl, '-u']);
    assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /expect-plan/);
  }
});
