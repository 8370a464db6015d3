// `restore --dry-run --json --keep-plan` and `restore --from-plan=ID --expect-plan=DIGEST` end to
// end (issue 14 §1: "plans once and restores that plan, never fetching the metadata twice"): the
// restore uses the kept Wyng list and metadata tarball (no `wyng list`, no metadata receive), the
// plan digest still binds it (a tampered entry is refused, nothing written), a missing or expired
// entry falls back to fetching with a warning, bad ids and option misuse exit 9 before anything
// runs, and no remote caller can use a kept plan.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePlanEntry, encodePlanEntry, PLAN_TTL_MS } from '../../src/adapters/plan-cache.ts';
import { run as runLibrary } from '../../src/app/library.ts';
import { RpcRequestSchema } from '../../src/core/profiles.ts';
import {
  assertRestored,
  removeQubeLikeQubesd,
  restoreLab,
  writes,
  wyngSince as wyngProcessesSince,
  type LabRun,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';
import { makeTgz } from '../helpers/tarball.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

interface Kept {
  planId: string;
  planDigest: string;
}

const plansDir = (): string => join(lab.sim.stateDir, 'plans');
const entryPath = (id: string): string => join(plansDir(), `${id}.plan`);

async function keptPlan(qube: string): Promise<Kept> {
  const r = await lab.restore(['--dry-run', '--keep-plan', qube]);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const result = r.json!.result as Kept;
  assert.match(result.planId, /^[0-9a-f]{32}$/);
  return result;
}

/** Wyng processes since `from` (helpers/restore-lab.ts). */
const wyngSince = (from: number): ReturnType<typeof wyngProcessesSince> => wyngProcessesSince(lab.sim, from);

async function removeWork(): Promise<void> {
  await removeQubeLikeQubesd(lab.sim, lab.client(), 'work');
}

function assertRefusedByDigest(r: LabRun, mark: number, wyngFrom: number): void {
  assert.equal(r.code, 9, `${r.stderr}\n${r.stdout}`);
  assert.match(r.stderr, /restore plan changed since it was approved/);
  assert.deepEqual(writes(lab.callsSince(mark)), [], 'no Admin API write');
  assert.equal(wyngSince(wyngFrom).data, 0, 'no data received');
}

test('--keep-plan: the dry run names its planId; the entry is 0600 in a 0700 dir of the state dir', async () => {
  const { planId } = await keptPlan('work');
  assert.equal(statSync(plansDir()).mode & 0o777, 0o700);
  assert.equal(statSync(entryPath(planId)).mode & 0o777, 0o600);
  const entry = decodePlanEntry(readFileSync(entryPath(planId)), planId);
  assert.equal(entry.source.session, lab.session);
  assert.equal(entry.source.dest, lab.sim.archiveUrl);
  // a dry run without --keep-plan keeps nothing and names no plan
  const before = readdirSync(plansDir()).length;
  const plain = await lab.restore(['--dry-run', 'work']);
  assert.equal((plain.json!.result as { planId?: string }).planId, undefined);
  assert.equal(readdirSync(plansDir()).length, before);
});

test('--from-plan: restored from the kept plan with no wyng list and no metadata receive', async () => {
  await removeWork();
  const { planId, planDigest } = await keptPlan('work');
  const w = lab.sim.wyngCalls().length;
  const r = await lab.restore(['--from-plan', planId, '--expect-plan', planDigest, 'work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const calls = wyngSince(w);
  assert.deepEqual([calls.list, calls.metadata, calls.data], [0, 0, 1], JSON.stringify(calls.all.map((c) => c.argv)));
  assert.equal(calls.all.length, 1);
  await assertRestored(lab, ['work']);
  // the same entry serves a second restore bound to its digest (Salt restores several qubes from one plan)
});

test('a missing or expired entry: a warning, then the metadata is fetched; the digest still binds', async () => {
  await removeWork();
  const { planId, planDigest } = await keptPlan('work');
  const bytes = readFileSync(entryPath(planId));
  const old = decodePlanEntry(bytes, planId);
  writeFileSync(entryPath(planId), encodePlanEntry(old.source, Date.now() - PLAN_TTL_MS - 1000));
  let w = lab.sim.wyngCalls().length;
  const expired = await lab.restore(['--from-plan', planId, '--expect-plan', planDigest, 'work']);
  assert.equal(expired.code, 0, expired.stderr);
  assert.match(expired.stderr, /Warning: plan [0-9a-f]{32} has expired: listing the archive and reading/);
  // the session's metadata comes from dom0's copy (the dry run received it): listed, not received
  assert.deepEqual([wyngSince(w).list, wyngSince(w).metadata, wyngSince(w).data], [1, 0, 1]);
  await assertRestored(lab, ['work']);

  await removeWork();
  const again = await keptPlan('work');
  const missing = 'f'.repeat(32);
  w = lab.sim.wyngCalls().length;
  const r = await lab.restore(['--from-plan', missing, '--expect-plan', again.planDigest, 'work']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: plan f{32} is not kept/);
  assert.deepEqual([wyngSince(w).list, wyngSince(w).metadata], [1, 0]);
  await assertRestored(lab, ['work']);
});

test('a kept entry whose metadata was changed: the digest refuses (exit 9), nothing written', async () => {
  await lab.client().setProperty('personal', 'memory', 999);
  const { planId, planDigest } = await keptPlan('personal');
  const entry = decodePlanEntry(readFileSync(entryPath(planId)), planId);
  const other = makeTgz([{ name: 'qubes.xml', data: lab.sim.qubesd.dumpQubesXml() }]);
  writeFileSync(entryPath(planId), encodePlanEntry({ ...entry.source, metadataTgz: other }, entry.createdAt));
  const m = lab.mark();
  const w = lab.sim.wyngCalls().length;
  const r = await lab.restore(['--from-plan', planId, '--expect-plan', planDigest, '--allow-rollback', 'personal']);
  assertRefusedByDigest(r, m, w);
  assert.equal((await lab.client().getProperty('personal', 'memory')).value, '999');
  // garbage instead of an entry: refused as input, nothing written
  writeFileSync(entryPath(planId), Buffer.from('not a plan\n'));
  const g = await lab.restore(['--from-plan', planId, '--expect-plan', planDigest, 'personal']);
  assert.equal(g.code, 9, g.stderr);
  assert.match(g.stderr, /kept plan .* is unusable/);
  assert.deepEqual(writes(lab.callsSince(m)), []);
});

test('bad ids and option misuse: exit 9 before any Wyng or qubesd call', async () => {
  const d = 'a'.repeat(64);
  const id = 'b'.repeat(32);
  const cases: string[][] = [
    ['--from-plan', 'xyz', '--expect-plan', d, 'work'],
    ['--from-plan', 'B'.repeat(32), '--expect-plan', d, 'work'],
    ['--from-plan', 'b'.repeat(31), '--expect-plan', d, 'work'],
    ['--from-plan', `../${'b'.repeat(29)}`, '--expect-plan', d, 'work'],
    ['--from-plan', id, 'work'], // no --expect-plan
    ['--keep-plan', 'work'], // not a dry run
  ];
  for (const args of cases) {
    const m = lab.mark();
    const w = lab.sim.wyngCalls().length;
    const r = await lab.restore(args);
    assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /from-plan|keep-plan/);
    assert.equal(lab.callsSince(m).length, 0, `${args.join(' ')}: no Admin API call`);
    assert.equal(wyngSince(w).all.length, 0, `${args.join(' ')}: no Wyng run`);
  }
  for (const args of [
    ['list', '--from-plan', id],
    ['--keep-plan', 'backup', 'work'],
    ['--from-plan', id, '--expect-plan', d, '--profile', 'x', 'remote', 'Restore', 'work'],
  ]) {
    const r = await lab.cli([...args, '--dest', lab.sim.archiveUrl, '-u']);
    assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--(keep|from)-plan is only valid with restore\n/);
  }
  // no abbreviation selects them
  const abbrev = await lab.restore(['--from-pl', id, '--expect-plan', d, 'work']);
  assert.equal(abbrev.code, 9, abbrev.stderr);
});

test('a remote caller cannot use a kept plan: not in an RPC request, refused for an rpc run', async () => {
  const { planId, planDigest } = await keptPlan('work');
  const request = RpcRequestSchema.safeParse({ qubes: ['work'], expectPlan: planDigest, fromPlan: planId });
  assert.equal(request.success, false, 'wyng.Restore requests have no fromPlan');
  const w = lab.sim.wyngCalls().length;
  const m = lab.mark();
  const env = await runLibrary(
    'restore',
    { qubes: ['work'], dest: lab.sim.archiveUrl, fromPlan: planId, expectPlan: planDigest },
    { env: lab.sim.env, origin: { source: 'rpc', caller: 'mgmt' } },
  );
  assert.equal(env.exitCode, 9);
  assert.equal(env.errors[0]?.kind, 'forbidden');
  assert.equal(wyngSince(w).all.length, 0);
  assert.deepEqual(writes(lab.callsSince(m)), []);
});

test('a kept entry whose list was swapped for a later one: refused by the digest', async () => {
  await lab.client().setProperty('work', 'memory', 1234);
  const first = await keptPlan('work');
  const b = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', 'work']);
  assert.equal(b.code, 0, b.stderr);
  const later = await keptPlan('work');
  const a = decodePlanEntry(readFileSync(entryPath(first.planId)), first.planId);
  const l = decodePlanEntry(readFileSync(entryPath(later.planId)), later.planId);
  for (const session of [a.source.session, l.source.session]) {
    // the later list under the first entry, with its own session or with the later one
    writeFileSync(
      entryPath(first.planId),
      encodePlanEntry({ ...a.source, listStdout: l.source.listStdout, session }, a.createdAt),
    );
    const m = lab.mark();
    const w = lab.sim.wyngCalls().length;
    const r = await lab.restore(['--from-plan', first.planId, '--expect-plan', first.planDigest, 'work']);
    assertRefusedByDigest(r, m, w);
  }
  assert.equal((await lab.client().getProperty('work', 'memory')).value, '1234');
});
