// Restore end to end against the simulator: back up the realistic lab set, damage it in every
// way a user can (deleted qubes, changed properties/features/tags/devices/firewall/notes, a
// swapped template, a "renamed" qube = removed and a new one of the same name and another
// class, overwritten volumes), restore, and compare the live state with the backup setting by
// setting and byte by byte; a second restore writes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IN_PROGRESS_TAG } from '../../src/core/restore/diff.ts';
import {
  assertRestored,
  LAB_QUBES,
  qubeDir,
  removeQubeLikeQubesd,
  setFirewallLikeQubesd,
  restoreLab,
  writes,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

interface RestoreJson {
  session: string;
  qubes: Array<{ name: string; status: string; changes: number; error?: string }>;
}

test(
  'every kind of damage is undone: settings equal the backup property by property, volumes ' + 'byte for byte',
  async () => {
    const c = lab.client();
    const { sim } = lab;
    // deleted qube (its directory goes with it)
    await removeQubeLikeQubesd(sim, c, 'personal');
    // properties, label, features, tags, devices, firewall, notes of work
    await c.setProperty('work', 'memory', 1234);
    await c.setProperty('work', 'label', 'green');
    await c.resetProperty('work', 'vcpus');
    await c.setProperty('work', 'kernelopts', 'quiet');
    await c.setProperty('work', 'include_in_backups', false);
    await c.removeFeature('work', 'service.crond');
    await c.setFeature('work', 'menu-items', 'xterm.desktop');
    await c.setFeature('work', 'stray-feature', '1');
    await c.removeTag('work', 'project-x');
    await c.setTag('work', 'stray');
    for (const a of await c.assignedDevices('work', 'pci')) await c.unassignDevice('work', a);
    await c.assignDevice('work', {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_04.0',
      deviceId: '0x1af4:0x1053::pffff00',
      mode: 'required',
      options: {},
    });
    await setFirewallLikeQubesd(sim, c, 'work', 'AppVM', ['action=accept']);
    writeFileSync(join(qubeDir(sim, 'work', 'AppVM'), 'notes.txt'), 'overwritten\n');
    // a PCI assignment widened to "any device in that port", its options lost
    for (const a of await c.assignedDevices('sys-net', 'pci')) await c.unassignDevice('sys-net', a);
    await c.assignDevice('sys-net', {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_03.0',
      deviceId: '*',
      mode: 'required',
      options: {},
    });
    // swapped template
    await c.createQube({ klass: 'TemplateVM', name: 'debian-12', label: 'black' });
    await c.setProperty('work-clone', 'template', 'debian-12');
    await c.setProperty('work-clone', 'netvm', '');
    // "renamed": vault removed, a StandaloneVM of the same name in its place
    await removeQubeLikeQubesd(sim, c, 'vault');
    await c.createQube({ klass: 'StandaloneVM', name: 'vault', label: 'red' });
    // the template's settings and data, the standalone's and work's data
    await c.setFeature('fedora-41', 'os', 'Other');
    await c.setProperty('sys-firewall', 'memory', 500);
    writeFileSync(sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 7));
    writeFileSync(sim.qubesd.volumePath('fedora-41', 'root')!, Buffer.alloc(256 * 1024, 8));
    writeFileSync(sim.qubesd.volumePath('untrusted-standalone', 'root')!, Buffer.alloc(256 * 1024, 9));
    writeFileSync(sim.qubesd.volumePath('sys-net', 'private')!, Buffer.alloc(256 * 1024, 10));

    const r = await lab.restore(['--session', lab.session]);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const result = r.json!.result as RestoreJson;
    assert.equal(result.session, lab.session);
    assert.deepEqual(result.qubes.map((q) => [q.name, q.status]).sort(), LAB_QUBES.map((q) => [q, 'restored']).sort());
    for (const q of result.qubes) assert.equal(q.error, undefined, q.name);
    assert.ok(result.qubes.find((q) => q.name === 'work')!.changes >= 14, 'every change of work is counted');
    await assertRestored(lab, LAB_QUBES);
    const live = await lab.client().listQubes();
    assert.equal(
      live.find((q) => q.name === 'vault')!.klass,
      'AppVM',
      "the StandaloneVM in vault's place was replaced by the archived AppVM",
    );
    assert.equal(
      live.find((q) => q.name === 'debian-12')?.klass,
      'TemplateVM',
      'qubes outside the backup are left alone',
    );
    for (const q of LAB_QUBES)
      assert.equal(await lab.client().hasTag(q, IN_PROGRESS_TAG), false, `${q}: no ${IN_PROGRESS_TAG} left`);
    // firewall rules are in force in qubesd (not only in a file), the device identity is exact
    assert.deepEqual(await lab.client().getFirewall('work'), lab.archived.get('work')!.firewall);
    assert.deepEqual(await lab.client().assignedDevices('sys-net', 'pci'), lab.archived.get('sys-net')!.devices);
    assert.equal(readFileSync(join(qubeDir(sim, 'work', 'AppVM'), 'notes.txt'), 'utf8'), lab.notes.get('work'));
    assert.ok(
      !existsSync(join(qubeDir(sim, 'work', 'AppVM'), `notes.txt.wyng-qubes-${process.pid}.tmp`)),
      'no temp file left behind',
    );
  },
);

test('a second restore of the restored system makes zero Admin API writes and still succeeds', async () => {
  const m = lab.mark();
  const r = await lab.restore(['--session', lab.session]);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.deepEqual(writes(lab.callsSince(m)), []);
  const result = r.json!.result as RestoreJson & { adminApi: { writes: number; calls: number } };
  assert.equal(result.adminApi.writes, 0);
  assert.deepEqual(
    result.qubes.map((q) => q.changes),
    result.qubes.map(() => 0),
  );
  // reads in batches, only of the qubes being restored (the DispVM disp-test is not selected)
  const calls = lab.callsSince(m);
  assert.deepEqual(
    calls.filter((x) => x.dest === 'disp-test').map((x) => x.method),
    [],
    'an unselected qube is not read',
  );
  // per qube: properties, features (list + one per feature), tags, firewall, devices per class,
  // volume info; wyng-util-qubes needs 68–73 per qube
  assert.ok(calls.length <= 10 * LAB_QUBES.length, `a few reads per qube (${calls.length} calls)`);
  await assertRestored(lab, LAB_QUBES);
});

test(
  'a restore of the restored system with damaged bytes only brings the bytes back and writes ' + 'no setting',
  async () => {
    writeFileSync(lab.sim.qubesd.volumePath('work-clone', 'private')!, Buffer.alloc(256 * 1024, 0x42));
    const m = lab.mark();
    const r = await lab.restore(['--session', lab.session, 'work-clone']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.deepEqual(writes(lab.callsSince(m)), []);
    await assertRestored(lab, ['work-clone']);
  },
);
