// Restore of qubes that run: a running qube being overwritten is killed first (and the plan
// says so); a disposable template whose disposables run gets them killed first; Qubes 4.2's
// device API (Attach/Detach, chosen by probing) restores device assignments too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { IN_PROGRESS_TAG } from '../../src/core/restore/diff.ts';
import { assertRestored, restoreLab, writes, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

describe('running qubes', () => {
  let lab: RestoreLab;
  before(async () => {
    lab = await restoreLab(await buildSandbox({ qubesd: { running: ['work', 'disp-test'] } }));
  });
  after(async () => {
    await lab?.stop();
  });

  test('a running qube is killed before anything is written to it, and the plan reports it', async () => {
    const state = async (q: string): Promise<string | undefined> =>
      (await lab.client().listQubes()).find((x) => x.name === q)?.state;
    assert.equal(await state('work'), 'Running');
    await lab.client().setProperty('work', 'vcpus', 1);
    await lab.client().setTag('work', 'stray');
    writeFileSync(lab.sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 3));

    const dry = await lab.restore(['--dry-run', '--session', lab.session, 'work']);
    const plan = (
      dry.json!.result as {
        plan: { qubes: Array<{ name: string; problems: Array<{ severity: string; message: string }> }> };
      }
    ).plan;
    assert.deepEqual(plan.qubes[0]!.problems, [
      { severity: 'warning', message: "'work' is Running: it will be killed before its volumes are restored." },
    ]);
    assert.equal(await state('work'), 'Running', 'a dry run does not stop it');

    const m = lab.mark();
    const r = await lab.restore(['--session', lab.session, 'work']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.match(r.stderr + r.stdout, /'work' is Running: it will be killed/);
    const w = writes(lab.callsSince(m));
    assert.equal(w[0], 'admin.vm.Kill work', `the kill comes first: ${w.join(', ')}`);
    assert.equal(w.filter((x) => x === 'admin.vm.Kill work').length, 1);
    assert.equal(await state('work'), 'Halted');
    await assertRestored(lab, ['work']);
  });

  test('a disposable template with running disposables: they are killed first, then it is restored', async () => {
    const c = lab.client();
    assert.equal((await c.listQubes()).find((x) => x.name === 'disp-test')?.state, 'Running');
    await c.setFeature('fedora-41-dvm', 'appmenus-dispvm', '0');
    writeFileSync(lab.sim.qubesd.volumePath('fedora-41-dvm', 'private')!, Buffer.alloc(256 * 1024, 4));

    const dry = await lab.restore(['--dry-run', '--session', lab.session, 'fedora-41-dvm']);
    const plan = (
      dry.json!.result as {
        plan: { qubes: Array<{ name: string; problems: Array<{ severity: string; message: string }> }> };
      }
    ).plan;
    assert.ok(
      plan.qubes[0]!.problems.some((p) =>
        /disposables based on 'fedora-41-dvm' are running \(disp-test\): they will be killed first/.test(p.message),
      ),
      JSON.stringify(plan.qubes[0]!.problems),
    );
    const m = lab.mark();
    const r = await lab.restore(['--session', lab.session, 'fedora-41-dvm']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const w = writes(lab.callsSince(m));
    assert.equal(w[0], 'admin.vm.Kill disp-test', w.join(', '));
    assert.equal((await lab.client().listQubes()).find((x) => x.name === 'disp-test')?.state, 'Halted');
    await assertRestored(lab, ['fedora-41-dvm']);
    assert.equal(await lab.client().hasTag('fedora-41-dvm', IN_PROGRESS_TAG), false);
  });
});

describe('Qubes 4.2 device API', () => {
  let lab: RestoreLab;
  before(async () => {
    lab = await restoreLab(await buildSandbox({ qubesd: { api: '4.2' } }));
  });
  after(async () => {
    await lab?.stop();
  });

  test('device assignments are restored with Attach/Detach (found by probing), verified, idempotent', async () => {
    const c = lab.client();
    assert.ok(lab.archived.get('sys-net')!.devices.length > 0, 'sys-net has its PCI card assigned');
    for (const q of ['sys-net', 'work'])
      for (const a of await c.assignedDevices(q, 'pci')) await c.unassignDevice(q, a);
    await c.assignDevice('work', {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_04.0',
      deviceId: '*',
      mode: 'required',
      options: {},
    });
    await c.setProperty('work', 'memory', 777);

    // the plan shows 4.2's semantics (persistent attachments by port) and writes nothing; the
    // backup was made on this 4.2 qubesd, so nothing is widened
    const dry = lab.mark();
    const d = await lab.restore(['--session', lab.session, '--dry-run', 'sys-net', 'work']);
    assert.equal(d.code, 0, `${d.stderr}\n${d.stdout}`);
    const text = d.stdout + d.stderr;
    assert.match(text, /sys-net \(AppVM\)[^]*device attach persistently pci dom0:00_03\.0 no-strict-reset=True/);
    assert.match(text, /work \(AppVM\)[^]*device detach pci dom0:00_04\.0/);
    assert.doesNotMatch(text, /without device identity and mode/);
    assert.equal((d.json!.result as { plan: { deviceApi: string } }).plan.deviceApi, '4.2');
    assert.deepEqual(writes(lab.callsSince(dry)), []);

    const m = lab.mark();
    const r = await lab.restore(['--session', lab.session, 'sys-net', 'work']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const w = writes(lab.callsSince(m));
    assert.ok(
      w.some((x) => x.startsWith('admin.vm.device.pci.Attach+dom0+00_03.0 sys-net')),
      w.join(', '),
    );
    assert.ok(
      w.some((x) => x.startsWith('admin.vm.device.pci.Detach+dom0+00_04.0 work')),
      w.join(', '),
    );
    assert.ok(!w.some((x) => /\.(Assign|Unassign)\+/.test(x)), 'no 4.3 method on a 4.2 qubesd');
    await assertRestored(lab, ['sys-net', 'work']);
    const again = lab.mark();
    const r2 = await lab.restore(['--session', lab.session, 'sys-net', 'work']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(writes(lab.callsSince(again)), []);
  });
});
