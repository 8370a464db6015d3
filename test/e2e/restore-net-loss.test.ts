// Issue 16: the restore preview names the running qubes that lose network while the restore has
// their net qube stopped (restoring sys-net kills it while sys-firewall and work run; qubesd's kill
// does not refuse), in the --dry-run text, the --json plan (`netLoss` per planned qube) and the
// confirmation before `Continue?`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSandbox } from '../helpers/sim.ts';
import { restoreLab, writes, type LabRun, type RestoreLab } from '../helpers/restore-lab.ts';

let lab: RestoreLab;

before(async () => {
  // starting work starts its netvm chain: sys-firewall (the default netvm), then sys-net
  lab = await restoreLab(await buildSandbox({ qubesd: { running: ['work'] } }));
});

after(async () => {
  await lab?.stop();
});

const state = async (q: string): Promise<string | undefined> =>
  (await lab.client().listQubes()).find((x) => x.name === q)?.state;

const textRun = (extra: string[], opts: { confirm?: boolean } = {}): Promise<LabRun> =>
  lab.cli(
    [
      'restore',
      '--allow-reach=all',
      '--dest',
      lab.sim.archiveUrl,
      '--no-qubes-post',
      '--session',
      lab.session,
      ...extra,
    ],
    opts,
  );

interface JsonPlan {
  plan: { qubes: Array<{ name: string; netLoss?: string[] }> };
}

const netLossOf = (r: LabRun): Record<string, string[] | undefined> =>
  Object.fromEntries((r.json!.result as JsonPlan).plan.qubes.map((q) => [q.name, q.netLoss]));

const netvmReads = (from: number): string[] =>
  lab
    .callsSince(from)
    .filter((c) => c.method === 'admin.vm.property.Get' && c.arg === 'netvm')
    .map((c) => c.dest);

test('the sandbox: sys-net, sys-firewall and work run, work behind sys-firewall behind sys-net', async () => {
  for (const q of ['sys-net', 'sys-firewall', 'work']) assert.equal(await state(q), 'Running', q);
  assert.equal(await state('vault'), 'Halted');
});

test('restore sys-net --dry-run: the text names sys-firewall and work', async () => {
  const r = await textRun(['-u', '--dry-run', 'sys-net']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /sys-net \(AppVM\): overwrite[^\n]*\n(?: {6}[^\n]*\n)* {6}warning: running qubes lose network while 'sys-net' is stopped \(until started again\): sys-firewall, work\n/,
  );
  assert.equal(await state('sys-net'), 'Running', 'a dry run stops nothing');
});

test('--json: netLoss per planned qube; a qube providing no network: empty, no read', async () => {
  let m = lab.mark();
  const r = await lab.restore(['--dry-run', '--session', lab.session, 'sys-net', 'vault']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(netLossOf(r), { 'sys-net': ['sys-firewall', 'work'], vault: [] });
  assert.deepEqual(netvmReads(m).sort(), ['sys-firewall', 'sys-net', 'work'], 'one netvm read per running qube');

  // both net qubes restored: each is stopped anyway, so only work is listed (for either)
  const both = await lab.restore(['--dry-run', '--session', lab.session, 'sys-net', 'sys-firewall']);
  assert.equal(both.code, 0, both.stderr);
  assert.deepEqual(netLossOf(both), { 'sys-net': ['work'], 'sys-firewall': ['work'] });

  // work runs but provides no network: nobody loses network, and no netvm is read
  m = lab.mark();
  const work = await lab.restore(['--dry-run', '--session', lab.session, 'work']);
  assert.equal(work.code, 0, work.stderr);
  assert.deepEqual(netLossOf(work), { work: [] });
  assert.deepEqual(netvmReads(m), []);
  const text = await textRun(['-u', '--dry-run', 'work']);
  assert.doesNotMatch(text.stdout, /lose network/);
});

test('the confirmation says it before Continue?; answering no stops nothing', async () => {
  const m = lab.mark();
  const r = await textRun(['sys-net'], { confirm: false });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /Restoring to existing VMs will overwrite them\.\.\.\n sys-net\n\nWarning: {2}running qubes will lose network[^\n]*\n {2}running qubes lose network while 'sys-net' is stopped \(until started again\): sys-firewall, work\n\nCancelled\./,
  );
  assert.deepEqual(writes(lab.callsSince(m)), []);
  assert.equal(await state('sys-net'), 'Running');
});

test('the restore does what the preview said: sys-net is stopped while sys-firewall and work run on', async () => {
  const r = await lab.restore(['--session', lab.session, 'sys-net']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.equal(await state('sys-net'), 'Halted');
  assert.equal(await state('sys-firewall'), 'Running');
  assert.equal(await state('work'), 'Running');
});
