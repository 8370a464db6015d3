/**
 * Contract tests of the Admin API client. The target is chosen by test/helpers/qubesd-target.ts:
 * a real qubesd when QUBESD_REAL_SOCKET is set (e.g. a qubesd lab), else the
 * fake qubesd of test/fakes/qubesd seeded with the recorded qubes.xml (plus a 4.2-mode fake for
 * the device API probe); QUBESD_CONTRACT_TARGET=replay replays the recorded qubesd bytes, which
 * can only serve the read-only part. Against a real qubesd (4.2 or 4.3+) the tests are read-mostly: the only qube
 * they change is one they
 * create, named `wq-test-*`, and remove again.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import { QubesApiError, QubesTransportError } from '../../src/core/qubesapi/errors.ts';
import { WqError } from '../../src/core/errors.ts';
import { isValidQubeName } from '../../src/core/names.ts';
import type { DeviceAssignment } from '../../src/core/qubes/model.ts';
import { qubesdTarget, type QubesdTarget } from '../helpers/qubesd-target.ts';
import { QUBESD_R42 } from '../helpers/qubesd-transcripts.ts';
import { startFakeQubesd } from '../fakes/qubesd/index.ts';

const target: QubesdTarget = await qubesdTarget();
after(() => target.close());
if (target.note !== undefined) process.stderr.write(`qubesd-client contract: ${target.note}\n`);

function client(): AdminClient {
  return new AdminClient(new SocketTransport({ socketPath: target.socketPath, timeoutMs: 30_000 }));
}

async function rejectsWith(type: string, fn: () => Promise<unknown>): Promise<QubesApiError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof QubesApiError, `expected ${type}, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    return err;
  }
  assert.fail(`expected ${type}`);
}

test(`[${target.kind}] listQubes: dom0 first, valid names, classes and states`, async () => {
  const qubes = await client().listQubes();
  assert.equal(qubes[0]?.name, 'dom0');
  assert.equal(qubes[0]?.klass, 'AdminVM');
  assert.equal(qubes[0]?.state, 'Running');
  assert.ok(qubes.length >= 2);
  for (const q of qubes) assert.ok(isValidQubeName(q.name), q.name);
  assert.ok(
    qubes.some((q) => q.klass === 'TemplateVM'),
    'a template exists',
  );
  assert.deepEqual(
    qubes.slice(1).map((q) => q.name),
    qubes
      .slice(1)
      .map((q) => q.name)
      .sort(),
    'then by name',
  );
});

test(`[${target.kind}] properties: GetAll agrees with Get and with the qube list`, async () => {
  const c = client();
  const qubes = await c.listQubes();
  for (const name of target.readQubes(qubes)) {
    const all = await c.getAllProperties(name);
    const klass = qubes.find((q) => q.name === name)?.klass;
    assert.equal(all.get('klass')?.value, klass, `${name} klass`);
    assert.equal(all.get('label')?.type, 'label');
    assert.match(all.get('label')?.value ?? '', /^[a-z]+$/, `${name} has a label`);
    if (klass !== 'AdminVM') {
      assert.deepEqual(all.get('name'), { isDefault: false, type: 'str', value: name });
      assert.equal(all.get('qid')?.type, 'int');
      const netvm = await c.getProperty(name, 'netvm');
      assert.deepEqual(netvm, all.get('netvm'), `${name}: Get netvm = GetAll netvm`);
    }
  }
  const globals = await c.getAllGlobals();
  assert.deepEqual(await c.getGlobal('default_netvm'), globals.get('default_netvm'));
  assert.equal(globals.get('default_template')?.type, 'vm');
});

test(`[${target.kind}] typed errors from qubesd`, async () => {
  const c = client();
  const e = await rejectsWith('QubesVMNotFoundError', () => c.getProperty('no-such-qube', 'netvm'));
  assert.equal(e.remoteMessage, "No such domain: 'no-such-qube'");
  const qube = target.readQubes(await c.listQubes())[0]!;
  await rejectsWith('QubesNoSuchPropertyError', () => c.getProperty(qube, 'no_such_prop'));
  if ((await c.detectDeviceApi()) === '4.3') {
    await rejectsWith('PermissionDenied', () => c.poolInfo('no-such-pool'));
  } else {
    // qubesd 4.2 closes the connection for PermissionDenied (test/data/qubesd-r4.2)
    await assert.rejects(
      () => c.poolInfo('no-such-pool'),
      (e: unknown) => e instanceof QubesTransportError && e.reason === 'empty-response',
    );
  }
});

test(`[${target.kind}] readQubeSettings: documented call budget, explicit properties only, no read twice`, async () => {
  const c = client();
  const live = await c.listQubes();
  const names = target.readQubes(live);
  const devices = target.kind === 'replay' ? ['pci'] : 'all';
  const before = c.log.summary().calls;
  const settings = await c.readQubeSettings(names, { devices });
  const s = c.log.summary();
  const classes = devices === 'all' ? (await c.deviceClasses()).length : devices.length;
  const features = [...settings.values()].reduce((n, q) => n + Object.keys(q.features).length, 0);
  const nonAdmin = [...settings.values()].filter((q) => q.klass !== 'AdminVM').length;
  // vm.List was already cached; deviceclass.List once; the device-API probe (dom0's property
  // list) once; per qube GetAll + feature.List + tag.List; one feature.Get per feature; one
  // Assigned (4.2: List) per class per (non-dom0) qube
  assert.equal(s.calls - before, 2 + names.length * 3 + features + nonAdmin * classes);
  assert.deepEqual([...settings.keys()].sort(), [...names].sort());
  for (const q of settings.values()) {
    if (q.klass !== 'AdminVM') assert.equal(q.properties.name, q.name);
    for (const tag of q.tags) assert.match(tag, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(q.tags, [...q.tags].sort());
    for (const v of Object.values(q.features)) assert.match(v, /^[\x20-\x7e]*$/);
  }
  const calls = c.log.summary().calls;
  await c.readQubeSettings(names, { devices });
  assert.equal(c.log.summary().calls, calls, 'the second read is served from the cache');
  process.stderr.write(
    `qubesd-client contract [${target.kind}]: readQubeSettings of ${names.length} qubes = ` +
      `${s.calls - before + 1} calls incl. admin.vm.List ` +
      `(${features} feature values, ${classes} device classes)\n`,
  );
});

test(`[${target.kind}] pools, labels, device classes, volumes`, async () => {
  const c = client();
  const pools = await c.pools();
  assert.ok(pools.length >= 1);
  for (const p of pools) {
    assert.equal(p.config.name, p.name);
    assert.ok(p.driver.length > 0);
    if (p.driver === 'file-reflink') assert.ok(p.config.dir_path?.startsWith('/'), `${p.name} dir_path`);
    if (p.driver === 'lvm_thin') assert.ok(p.config.volume_group && p.config.thin_pool, `${p.name} vg/pool`);
  }
  const labels = await c.listLabels();
  assert.ok(labels.includes('red'));
  assert.match(await c.labelColor('red'), /^0x[0-9a-f]{6}$/);
  assert.ok((await c.labelIndex('blue')) > 0);
  assert.ok((await c.deviceClasses()).includes('pci'));
  const qube = target.readQubes(await c.listQubes())[0]!;
  const vols = await c.listVolumes(qube);
  assert.ok(vols.includes('private'));
  const info = await c.volumeInfo(qube, 'private');
  assert.ok(
    pools.some((p) => p.name === info.pool),
    'volume pool is a known pool',
  );
});

if (target.writable) {
  test(`[${target.kind}] a wq-test qube: create, properties, features, tags, devices, firewall, remove`, async () => {
    const c = client();
    const name = `wq-test-${process.pid % 100000}-${Math.floor(Math.random() * 1e4)}`;
    const template =
      (await c.getGlobal('default_template')).value ||
      (await c.listQubes()).find((q) => q.klass === 'TemplateVM')!.name;
    const labels = await c.listLabels();
    await c.createQube({ klass: 'AppVM', name, label: 'red', template });
    try {
      const listed = (await c.listQubes()).find((q) => q.name === name);
      assert.deepEqual(listed && { klass: listed.klass, state: listed.state }, { klass: 'AppVM', state: 'Halted' });
      // 4.3+: QubesVMAlreadyExistsError; 4.2: QubesValueError 'VM x already exists'
      const exists = (await c.detectDeviceApi()) === '4.3' ? 'QubesVMAlreadyExistsError' : 'QubesValueError';
      await rejectsWith(exists, () => c.createQube({ klass: 'AppVM', name, label: 'red', template }));
      assert.ok((await c.listTags(name)).includes('created-by-dom0'), 'qubesd tags the new qube created-by-dom0');
      assert.deepEqual(await c.getProperty(name, 'template'), { isDefault: false, type: 'vm', value: template });

      // properties: Set makes explicit, Reset returns to the default
      await c.setProperty(name, 'memory', 512);
      assert.deepEqual(await c.getProperty(name, 'memory'), { isDefault: false, type: 'int', value: '512' });
      await c.setProperty(name, 'include_in_backups', false);
      assert.equal((await c.getProperty(name, 'include_in_backups')).value, 'False');
      await c.setProperty(name, 'netvm', null);
      assert.deepEqual(await c.getProperty(name, 'netvm'), { isDefault: false, type: 'vm', value: '' });
      await c.resetProperty(name, 'netvm');
      assert.equal((await c.getProperty(name, 'netvm')).isDefault, true);
      await c.resetProperty(name, 'memory');
      const mem = await c.getProperty(name, 'memory');
      assert.equal(mem.isDefault, true);
      assert.deepEqual(await c.getPropertyDefault(name, 'memory'), { type: 'int', value: mem.value });
      const other = labels.find((l) => l !== 'red')!;
      await c.setProperty(name, 'label', other);
      assert.equal((await c.getProperty(name, 'label')).value, other);
      await assert.rejects(
        () => c.resetProperty(name, 'label'),
        (e: unknown) => e instanceof WqError && e.kind === 'input',
      );
      await rejectsWith('QubesValueError', () => c.resetProperty(name, 'template'));
      await rejectsWith('QubesValueError', () => c.setProperty(name, 'include_in_backups', 'maybe'));

      // features
      await c.setFeature(name, 'wq-test.note', 'two words');
      await c.setFeature(name, 'wq-test.flag', false);
      assert.deepEqual(await c.getFeatures(name), { 'wq-test.note': 'two words', 'wq-test.flag': '' });
      await c.removeFeature(name, 'wq-test.note');
      await rejectsWith('QubesFeatureNotFoundError', () => c.getFeature(name, 'wq-test.note'));
      await rejectsWith('QubesFeatureNotFoundError', () => c.removeFeature(name, 'wq-test.note'));

      // tags
      await c.setTag(name, 'wq-test-tag');
      assert.equal(await c.hasTag(name, 'wq-test-tag'), true);
      await c.removeTag(name, 'wq-test-tag');
      assert.equal(await c.hasTag(name, 'wq-test-tag'), false);
      await rejectsWith('QubesTagNotFoundError', () => c.removeTag(name, 'wq-test-tag'));

      // devices: a block port of dom0 that need not be present (§7)
      const blk: DeviceAssignment = {
        devclass: 'block',
        backend: 'dom0',
        port: 'wqtest0',
        deviceId: '*',
        mode: 'auto-attach',
        options: { 'read-only': 'yes' },
      };
      if ((await c.deviceClasses()).includes('block')) {
        await c.assignDevice(name, blk);
        assert.ok(c.deviceApi === '4.3' || c.deviceApi === '4.2');
        const assigned = await c.assignedDevices(name, 'block');
        assert.deepEqual(assigned, [c.deviceApi === '4.3' ? blk : { ...blk, mode: 'required' }]);
        if (c.deviceApi === '4.3') await rejectsWith('DeviceAlreadyAssigned', () => c.assignDevice(name, blk));
        await c.unassignDevice(name, blk);
        assert.deepEqual(await c.assignedDevices(name, 'block'), []);
      }

      // firewall: qubesd stores rules in its own canonical form (dsthost → dst4, its option order)
      assert.deepEqual(await c.getFirewall(name), ['action=accept']);
      await c.setFirewall(name, [
        'action=accept proto=tcp dsthost=10.0.0.0/8 dstports=443-443 comment=web only',
        'action=drop',
      ]);
      assert.deepEqual(await c.getFirewall(name), [
        'action=accept dst4=10.0.0.0/8 proto=tcp dstports=443-443 comment=web only',
        'action=drop',
      ]);

      // everything at once, as a restore reads it
      const s = (await c.readQubeSettings([name], { firewall: true })).get(name)!;
      assert.equal(s.properties.label, other);
      assert.equal(s.properties.include_in_backups, 'False');
      assert.equal(s.properties.memory, undefined);
      assert.deepEqual(s.features, { 'wq-test.flag': '' });
      assert.equal(s.firewall?.length, 2);

      // power: harmless calls on a halted qube
      assert.equal((await c.currentState(name)).powerState, 'Halted');
      await rejectsWith('QubesVMNotStartedError', () => c.shutdownQube(name));
      await rejectsWith('QubesVMNotStartedError', () => c.killQube(name));
      const vols = await c.listVolumes(name);
      assert.deepEqual([...vols].sort(), ['kernel', 'private', 'root', 'volatile']);
    } finally {
      await c.removeQube(name);
    }
    assert.equal(
      (await c.listQubes()).some((q) => q.name === name),
      false,
    );
    await rejectsWith('QubesVMNotFoundError', () => c.removeQube(name));
  });
}

if (target.kind === 'fake') {
  test('[fake 4.2] the device API of Qubes 4.2 is found by probing and used for reads and writes', async () => {
    const poolsDir = mkdtempSync(join(tmpdir(), 'wq-fake42-'));
    const fake = await startFakeQubesd({ qubesXml: join(QUBESD_R42, 'qubes.xml'), poolsDir, api: '4.2' });
    try {
      const c = new AdminClient(new SocketTransport({ socketPath: fake.socketPath, timeoutMs: 10_000 }));
      const [net, ...rest] = await c.assignedDevices('sys-net', 'pci');
      assert.equal(c.deviceApi, '4.2');
      assert.deepEqual(rest, []);
      assert.deepEqual(net && { backend: net.backend, port: net.port, mode: net.mode, options: net.options }, {
        backend: 'dom0',
        port: '00_03.0',
        mode: 'required',
        options: { 'no-strict-reset': 'True' },
      });
      const blk: DeviceAssignment = {
        devclass: 'block',
        backend: 'dom0',
        port: 'wqtest0',
        deviceId: '*',
        mode: 'required',
        options: { 'read-only': 'yes' },
      };
      await c.assignDevice('work', blk);
      assert.deepEqual(await c.assignedDevices('work', 'block'), [blk]);
      await c.unassignDevice('work', blk);
      assert.deepEqual(await c.assignedDevices('work', 'block'), []);
      assert.equal(c.log.entries.filter((e) => e.method === 'admin.vm.property.List').length, 1, 'probed once');
      assert.equal(c.log.entries.filter((e) => e.method.endsWith('.Assigned')).length, 0, 'no 4.3 name sent');
    } finally {
      await fake.stop();
      rmSync(poolsDir, { recursive: true, force: true });
    }
  });
}
