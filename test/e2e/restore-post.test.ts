// The default restore post step (no --no-qubes-post): for a template or standalone qube whose
// data the restore changed, the qube is started, its menus are synced from it
// (`qvm-sync-appmenus`, as the dom0 user), it is shut down; then every qube whose data or menu
// settings (label, template, menu features …) changed gets `qvm-appmenus --update`. wyng-qubes
// runs the sudo WYNG_QUBES_SUDO names (default /usr/bin/sudo); stubs for it and the qvm-*
// programs record what was called, in order, with which arguments. Each qvm-* stub also asks
// qubesd for the qube's power state: that request lands in the fake qubesd's call log, which puts
// the programs and the Admin API calls into one order. A restore that changes only other settings
// (memory), and an unchanged rerun, run none (issue 17: no template boot for nothing).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import { installPostStubs, type PostStubs } from '../helpers/post-stubs.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let sim: Sandbox;
let stubs: PostStubs;

before(async () => {
  sim = await buildSandbox();
  stubs = installPostStubs(sim.dir);
  const created = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const backup = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', '--json', 'fedora-41', 'work']);
  assert.equal(backup.code, 0, backup.stderr);
});

after(async () => {
  await sim?.stop();
});

type Change = 'data' | 'memory' | 'label' | 'none';

/** Makes both qubes differ from the backup: their private data, or one setting. */
async function change(what: Change): Promise<void> {
  const c = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 10_000 }));
  for (const q of ['fedora-41', 'work']) {
    if (what === 'data') sim.fill(q, 'private', `changed-${q}-${Date.now()}`);
    else if (what === 'memory') await c.setProperty(q, 'memory', 1234);
    else if (what === 'label') await c.setProperty(q, 'label', 'purple');
  }
}

async function restore(
  extraEnv: Record<string, string> = {},
  what: Change = 'data',
): Promise<{ code: number; out: string; mark: number }> {
  await change(what);
  stubs.clear();
  const mark = sim.qubesd.callLog.length;
  const r = await sim.run(
    ['restore', '--allow-reach=all', '--dest', sim.archiveUrl, '-u', '--json', 'fedora-41', 'work'],
    {
      env: { ...stubs.env, ...extraEnv },
    },
  );
  return { code: r.code, out: `${r.stderr}\n${r.stdout}`, mark };
}

test('data changed: the template is started, synced as the dom0 user, shut down; menus updated', async () => {
  const r = await restore();
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(stubs.calls(), [
    { prog: 'sudo', args: ['-u', '#1000', 'qvm-sync-appmenus', 'fedora-41'] },
    { prog: 'qvm-sync-appmenus', args: ['fedora-41'], power: 'Running' },
    { prog: 'sudo', args: ['-u', '#1000', 'qvm-appmenus', '--update', 'fedora-41'] },
    { prog: 'qvm-appmenus', args: ['--update', 'fedora-41'], power: 'Halted' },
    { prog: 'sudo', args: ['-u', '#1000', 'qvm-appmenus', '--update', 'work'] },
    { prog: 'qvm-appmenus', args: ['--update', 'work'], power: 'Halted' },
  ]);
  // The Admin API calls of the post phase, with the stubs' probes (CurrentState) in between.
  const calls = sim.qubesd.callLog.slice(r.mark);
  const firstStart = calls.findIndex((c) => c.method === 'admin.vm.Start');
  assert.ok(firstStart >= 0, 'the template was started');
  const post = calls
    .slice(firstStart)
    .filter((c) => ['admin.vm.Start', 'admin.vm.Shutdown', 'admin.vm.CurrentState'].includes(c.method))
    .map((c) => `${c.method} ${c.dest}`);
  assert.deepEqual(post, [
    'admin.vm.Start fedora-41',
    'admin.vm.CurrentState fedora-41', // qvm-sync-appmenus ran while the template was up
    'admin.vm.Shutdown fedora-41',
    'admin.vm.CurrentState fedora-41', // qvm-appmenus --update fedora-41
    'admin.vm.CurrentState work', // qvm-appmenus --update work: an app qube is not started
  ]);
});

test('a failing menu update is reported but does not fail the restore', async () => {
  const r = await restore({ POST_STUB_FAIL: 'qvm-appmenus' });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /post step for fedora-41: qvm-appmenus --update fedora-41 failed \(exit 3\)/);
  assert.match(r.out, /post step for work: qvm-appmenus --update work failed \(exit 3\)/);
  assert.deepEqual(
    stubs
      .calls()
      .filter((c) => c.prog !== 'sudo')
      .map((c) => c.prog),
    ['qvm-sync-appmenus', 'qvm-appmenus', 'qvm-appmenus'],
  );
});

test('only a menu setting changed (label): menus updated, no qube started', async () => {
  // the failing run above booted the template without recording it: this run syncs it again
  assert.equal((await restore({}, 'none')).code, 0);
  const r = await restore({}, 'label');
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(
    stubs
      .calls()
      .filter((c) => c.prog !== 'sudo')
      .map((c) => `${c.prog} ${c.args.join(' ')} ${c.power}`),
    ['qvm-appmenus --update fedora-41 Halted', 'qvm-appmenus --update work Halted'],
  );
  assert.equal(sim.qubesd.callLog.slice(r.mark).filter((c) => c.method === 'admin.vm.Start').length, 0);
});

test('only other settings changed (memory): written, no post step, no qube started', async () => {
  const r = await restore({}, 'memory');
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(stubs.calls(), []);
  const writes = sim.qubesd.callLog.slice(r.mark).filter((c) => c.method.startsWith('admin.vm.property.'));
  assert.deepEqual(
    writes.filter((c) => c.writes).map((c) => `${c.dest} ${c.arg}`),
    ['fedora-41 memory', 'work memory'],
  );
  assert.equal(sim.qubesd.callLog.slice(r.mark).filter((c) => c.method === 'admin.vm.Start').length, 0);
});

test('an unchanged rerun runs no post step and makes no write (no qube started)', async () => {
  assert.equal((await restore()).code, 0); // its post step boots the template: its volumes change
  const r = await restore({}, 'none');
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(stubs.calls(), []);
  const writes = sim.qubesd.callLog.slice(r.mark).filter((c) => c.writes);
  assert.deepEqual(
    writes.map((c) => `${c.method} ${c.dest}`),
    [],
  );
});

test('--no-qubes-post runs none of it', async () => {
  stubs.clear();
  const mark = sim.qubesd.callLog.length;
  const r = await sim.run(
    ['restore', '--allow-reach=all', '--dest', sim.archiveUrl, '-u', '--json', '--no-qubes-post', 'fedora-41'],
    {
      env: stubs.env,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(stubs.calls(), []);
  assert.equal(sim.qubesd.callLog.slice(mark).filter((c) => c.method === 'admin.vm.Start').length, 0);
});
