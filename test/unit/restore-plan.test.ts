import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArchivedSystem, QubeSettings } from '../../src/core/qubes/model.ts';
import { planRestore, type PlanInput } from '../../src/core/restore/plan.ts';
import { restoreOrder } from '../../src/core/restore/order.ts';

function qube(
  name: string,
  klass: QubeSettings['klass'],
  properties: Record<string, string>,
  extra: Partial<QubeSettings> = {},
): QubeSettings {
  return { name, klass, properties: { label: 'red', ...properties }, features: {}, tags: [], devices: [], ...extra };
}

const archived: ArchivedSystem = {
  globals: { default_template: 'debian-12', default_netvm: 'sys-firewall' },
  labels: [],
  pools: [],
  qubes: [
    qube('dom0', 'AdminVM', {}),
    qube('debian-12', 'TemplateVM', { netvm: '' }),
    qube('sys-net', 'AppVM', { template: 'debian-12', provides_network: 'True', netvm: '' }),
    qube('sys-firewall', 'AppVM', {
      template: 'debian-12',
      provides_network: 'True',
      netvm: 'sys-net',
      default_dispvm: 'dvm',
    }),
    qube('dvm', 'AppVM', { template: 'debian-12', template_for_dispvms: 'True', netvm: 'sys-firewall' }),
    qube(
      'work',
      'AppVM',
      { template: 'debian-12', memory: '800', netvm: 'sys-firewall' },
      {
        features: { 'service.cups': '1' },
        tags: ['important', 'created-by-dom0'],
        devices: [
          {
            devclass: 'pci',
            backend: 'dom0',
            port: '00_03.0',
            deviceId: '0x1af4:0x1041::p020000',
            mode: 'required',
            options: { 'no-strict-reset': 'True' },
          },
        ],
        firewall: ['action=accept proto=tcp dstports=443-443', 'action=drop'],
      },
    ),
    qube('disp1', 'DispVM', { template: 'dvm' }),
    qube('offsite', 'AppVM', { template: 'debian-12' }), // in qubes.xml, not backed up in the session
  ],
};

const sessionVolumes = {
  'debian-12': { private: 'vm-templates/debian-12/private.img', root: 'vm-templates/debian-12/root.img' },
  'sys-net': { private: 'appvms/sys-net/private.img' },
  'sys-firewall': { private: 'appvms/sys-firewall/private.img' },
  dvm: { private: 'appvms/dvm/private.img' },
  work: { private: 'appvms/work/private.img' },
};

function input(over: Partial<PlanInput> = {}, request: Partial<PlanInput['request']> = {}): PlanInput {
  return {
    session: '20261123-034701',
    archived,
    archivedNotes: {},
    sessionVolumes,
    live: {
      qubes: [{ name: 'dom0', klass: 'AdminVM', state: 'Running' }],
      settings: new Map(),
      globals: { default_template: 'debian-12' },
      runningDispvmTemplates: {},
    },
    request: {
      qubes: [],
      exclude: [],
      includeDisposable: false,
      skip: new Set(),
      ignoreMissing: false,
      forceIncomplete: false,
      ...request,
    },
    normalise: (_n, v) => v,
    ...over,
  };
}

test('selection: every backed-up qube of the session, templates first, no dom0, no DispVM by default', () => {
  const plan = planRestore(input());
  assert.deepEqual(plan.order, ['debian-12', 'sys-net', 'dvm', 'sys-firewall', 'work']);
  assert.deepEqual(plan.qubes.find((q) => q.name === 'dvm')!.deferred, ['netvm']);
  assert.ok(plan.qubes.every((q) => q.action === 'create'));
});

test('selection: names not in the session are reported, DispVMs only on request, --exclude applies', () => {
  const plan = planRestore(input({}, { qubes: ['work', 'offsite', 'ghost'], exclude: [] }));
  assert.deepEqual(plan.notMatched, ['ghost', 'offsite']);
  assert.deepEqual(plan.order, ['work']);
  const withDisp = planRestore(input({}, { includeDisposable: true, exclude: ['work'] }));
  assert.ok(withDisp.order.includes('disp1'));
  assert.ok(!withDisp.order.includes('work'));
  assert.equal(withDisp.order.at(-1), 'disp1');
  const disp = withDisp.qubes.find((q) => q.name === 'disp1')!;
  assert.deepEqual(disp.volumes, []);
  assert.equal(disp.fails, false);
});

test('missing reference fails the qube unless --ignore-missing, which falls back to defaults', () => {
  const strict = planRestore(input({}, { qubes: ['work'] }));
  const work = strict.qubes[0]!;
  assert.equal(work.fails, true);
  assert.match(work.problems.map((p) => p.message).join('\n'), /template 'debian-12' is neither on this system/);
  assert.match(work.problems.map((p) => p.message).join('\n'), /netvm 'sys-firewall'/);

  const loose = planRestore(
    input(
      { live: { ...input().live, globals: { default_template: 'fedora-41' } } },
      { qubes: ['work'], ignoreMissing: true },
    ),
  );
  const w = loose.qubes[0]!;
  assert.equal(w.fails, false);
  assert.deepEqual(w.create, { klass: 'AppVM', label: 'red', template: 'fedora-41' });
  assert.match(w.problems.map((p) => p.message).join('\n'), /default template 'fedora-41'/);
});

test('dependency on a failing qube of the same run propagates', () => {
  const vols = { ...sessionVolumes, 'debian-12': { private: 'vm-templates/debian-12/private.img' } };
  const plan = planRestore(
    input({ sessionVolumes: vols }, { qubes: ['debian-12', 'work', 'sys-firewall', 'sys-net', 'dvm'] }),
  );
  const byName = new Map(plan.qubes.map((q) => [q.name, q]));
  assert.equal(byName.get('debian-12')!.fails, true);
  assert.match(byName.get('debian-12')!.problems[0]!.message, /Incomplete volume list/);
  assert.equal(byName.get('work')!.fails, true);
  const forced = planRestore(input({ sessionVolumes: vols }, { qubes: ['debian-12'], forceIncomplete: true }));
  assert.equal(forced.qubes[0]!.fails, false);
  assert.deepEqual(forced.qubes[0]!.volumes, [{ kind: 'private', archiveName: 'vm-templates/debian-12/private.img' }]);
});

test('overwrite: an equal live qube gives an empty diff; differences become exact changes', () => {
  const target = archived.qubes.find((q) => q.name === 'work')!;
  const same: QubeSettings = {
    ...target,
    tags: ['important', 'created-by-dom0', 'guivm-dom0'],
    features: { ...target.features, servicevm: '1' },
  };
  const liveQubes = [
    { name: 'dom0', klass: 'AdminVM' as const, state: 'Running' as const },
    { name: 'debian-12', klass: 'TemplateVM' as const, state: 'Halted' as const },
    { name: 'sys-firewall', klass: 'AppVM' as const, state: 'Running' as const },
    { name: 'work', klass: 'AppVM' as const, state: 'Halted' as const },
  ];
  const live = { ...input().live, qubes: liveQubes, settings: new Map([['work', same]]) };
  const plan = planRestore(input({ live }, { qubes: ['work'] }));
  const w = plan.qubes[0]!;
  assert.equal(w.action, 'overwrite');
  assert.equal(w.changeCount, 0, JSON.stringify(w.changes));

  const damaged: QubeSettings = {
    ...target,
    properties: { ...target.properties, label: 'green', memory: '400', vcpus: '4', backup_timestamp: '1' },
    features: { 'service.cups': '0', extra: 'x' },
    tags: ['created-by-dom0', 'stray'],
    devices: [{ devclass: 'pci', backend: 'dom0', port: '00_03.0', deviceId: '*', mode: 'required', options: {} }],
    firewall: ['action=accept'],
  };
  const live2 = { ...live, settings: new Map([['work', damaged]]) };
  const p2 = planRestore(input({ live: live2 }, { qubes: ['work'] })).qubes[0]!;
  assert.deepEqual(p2.changes.label, { name: 'label', from: 'green', to: 'red' });
  assert.deepEqual(p2.changes.properties, [
    { name: 'memory', from: '400', to: '800' },
    { name: 'vcpus', from: '4', to: null },
  ]);
  assert.deepEqual(p2.changes.features, [
    { name: 'service.cups', from: '0', to: '1' },
    { name: 'extra', from: 'x', to: null },
  ]);
  assert.deepEqual(p2.changes.tags, [
    { tag: 'important', op: 'add' },
    { tag: 'stray', op: 'remove' },
  ]);
  assert.deepEqual(
    p2.changes.devices.map((d) => [d.op, d.assignment.deviceId]),
    [
      ['unassign', '*'],
      ['assign', '0x1af4:0x1041::p020000'],
    ],
  );
  assert.deepEqual(p2.changes.firewall, { from: ['action=accept'], to: target.firewall });
});

test('--pref NAME::x skips a property; typed comparison uses the normaliser', () => {
  const target = archived.qubes.find((q) => q.name === 'work')!;
  const live = {
    ...input().live,
    qubes: [
      { name: 'work', klass: 'AppVM' as const, state: 'Halted' as const },
      { name: 'debian-12', klass: 'TemplateVM' as const, state: 'Halted' as const },
      { name: 'sys-firewall', klass: 'AppVM' as const, state: 'Halted' as const },
    ],
    settings: new Map([
      ['work', { ...target, properties: { ...target.properties, memory: '0800', include_in_backups: 'true' } }],
    ]),
  };
  const norm = (_n: string, v: string) => (/^\d+$/.test(v) ? String(Number(v)) : v.toLowerCase());
  const p = planRestore(input({ live, normalise: norm }, { qubes: ['work'] })).qubes[0]!;
  assert.deepEqual(p.changes.properties, [{ name: 'include_in_backups', from: 'true', to: null }]);
  const skipped = planRestore(
    input({ live, normalise: norm }, { qubes: ['work'], skip: new Set(['include_in_backups']) }),
  ).qubes[0]!;
  assert.equal(skipped.changeCount, 0);
});

test('class mismatch is replace-class; dom0 is never replaced; running qubes and disposables are flagged', () => {
  const live = {
    ...input().live,
    qubes: [
      { name: 'dom0', klass: 'AdminVM' as const, state: 'Running' as const },
      { name: 'debian-12', klass: 'TemplateVM' as const, state: 'Halted' as const },
      { name: 'sys-firewall', klass: 'AppVM' as const, state: 'Running' as const },
      { name: 'work', klass: 'StandaloneVM' as const, state: 'Halted' as const },
      { name: 'dvm', klass: 'AppVM' as const, state: 'Running' as const },
    ],
    settings: new Map([['dvm', archived.qubes.find((q) => q.name === 'dvm')!]]),
    runningDispvmTemplates: { disp42: 'dvm' },
  };
  const plan = planRestore(input({ live }, { qubes: ['work', 'dvm'] }));
  const work = plan.qubes.find((q) => q.name === 'work')!;
  assert.equal(work.action, 'replace-class');
  assert.equal(work.liveClass, 'StandaloneVM');
  assert.deepEqual(work.create, { klass: 'AppVM', label: 'red', template: 'debian-12' });
  const dvm = plan.qubes.find((q) => q.name === 'dvm')!;
  assert.equal(dvm.running, true);
  assert.deepEqual(dvm.stopDisposables, ['disp42']);
  assert.equal(dvm.fails, false);
});

test('order: a reference cycle is broken by deferring the closing reference', () => {
  const { order, deferred } = restoreOrder([
    { name: 'sys-firewall', klass: 'AppVM', refs: { template: 'debian-12', default_dispvm: 'dvm' } },
    { name: 'dvm', klass: 'AppVM', refs: { template: 'debian-12', netvm: 'sys-firewall' } },
    { name: 'debian-12', klass: 'TemplateVM', refs: { netvm: 'sys-firewall' } },
  ]);
  assert.deepEqual(order, ['debian-12', 'dvm', 'sys-firewall']);
  assert.deepEqual(deferred, { 'debian-12': ['netvm'], dvm: ['netvm'] });
});

test('order: a qube that refers to a cycle waits for the whole cycle (it is not the one broken)', () => {
  // aa-app sorts first by name, but it is outside the cycle aa-dvm ↔ zz-net
  const { order, deferred } = restoreOrder([
    { name: 'aa-app', klass: 'AppVM', refs: { template: 'tpl', netvm: 'zz-net', default_dispvm: 'aa-dvm' } },
    { name: 'zz-net', klass: 'AppVM', refs: { template: 'tpl', default_dispvm: 'aa-dvm' } },
    { name: 'aa-dvm', klass: 'AppVM', refs: { template: 'tpl', netvm: 'zz-net' } },
    { name: 'tpl', klass: 'TemplateVM', refs: {} },
  ]);
  assert.deepEqual(order, ['tpl', 'aa-dvm', 'zz-net', 'aa-app']);
  assert.deepEqual(deferred, { 'aa-dvm': ['netvm'] });
});

test('the table normaliser compares typed values', async () => {
  const { tableNormaliser } = await import('../../src/core/restore/diff.ts');
  assert.equal(tableNormaliser('memory', '0800'), '800');
  assert.equal(tableNormaliser('include_in_backups', 'true'), 'True');
  assert.equal(tableNormaliser('kernelopts', ' a  b '), ' a  b ');
  assert.equal(tableNormaliser('no_such_property', 'X'), 'X');
});
