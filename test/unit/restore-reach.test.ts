import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceAssignment } from '../../src/core/qubes/model.ts';
import { emptyDiff, type SettingsDiff } from '../../src/core/restore/diff.ts';
import type { PlanAction, PlannedQube, RestorePlan } from '../../src/core/restore/plan.ts';
import {
  classifyPlan,
  classifyQube,
  firewallNarrows,
  parseReachApprovals,
  splitPlan,
  withholdFromDiff,
  type ClassifiedChange,
  type ReachContext,
} from '../../src/core/restore/reach.ts';
import { WqError } from '../../src/core/errors.ts';

const ctx: ReachContext = { globals: { default_netvm: 'sys-firewall', default_dispvm: 'default-dvm' } };

function planned(changes: Partial<SettingsDiff>, action: PlanAction = 'overwrite', name = 'personal'): PlannedQube {
  const diff = { ...emptyDiff(), ...changes };
  return {
    name,
    klass: 'AppVM',
    action,
    liveClass: action === 'create' ? null : action === 'replace-class' ? 'StandaloneVM' : 'AppVM',
    running: false,
    stopDisposables: [],
    create: action === 'overwrite' ? null : { klass: 'AppVM', label: 'red', template: 'debian-12' },
    volumes: [{ kind: 'private', archiveName: `appvms/${name}/private.img` }],
    changes: diff,
    changeCount: 1,
    deferred: [],
    overrides: {},
    problems: [],
    staleTag: false,
    fails: false,
  };
}

function prop(
  name: string,
  from: string | null,
  to: string | null,
  action: PlanAction = 'overwrite',
): ClassifiedChange {
  const r = classifyQube(planned({ properties: [{ name, from, to }] }, action), ctx);
  const all = [...r.own, ...r.reach];
  assert.equal(all.length, 1);
  return all[0]!;
}

function feature(name: string, to: string | null = '1'): ClassifiedChange {
  const r = classifyQube(planned({ features: [{ name, from: null, to }] }), ctx);
  return [...r.own, ...r.reach][0]!;
}

const nic: DeviceAssignment = {
  devclass: 'pci',
  backend: 'dom0',
  port: '00_03.0',
  deviceId: '*',
  mode: 'required',
  options: { permissive: 'True' },
};

test('own properties: label, memory, maxmem, vcpus, kernelopts and the like affect only the qube', () => {
  for (const name of ['memory', 'maxmem', 'vcpus', 'kernelopts', 'qrexec_timeout', 'autostart', 'include_in_backups']) {
    const c = prop(name, '1', '2');
    assert.equal(c.scope, 'own', name);
    assert.equal(c.reach, null, name);
  }
  const r = classifyQube(planned({ label: { name: 'label', from: 'red', to: 'blue' } }), ctx);
  assert.deepEqual(
    r.own.map((c) => c.kind),
    ['label'],
  );
  assert.equal(r.reach.length, 0);
});

test('reach properties: each in its class, with a reason', () => {
  const rows: [string, string][] = [
    ['provides_network', 'network'],
    ['template_for_dispvms', 'class'],
    ['guivm', 'gui'],
    ['audiovm', 'gui'],
    ['management_dispvm', 'class'],
    ['kernel', 'class'],
    ['virt_mode', 'class'],
    ['debug', 'class'],
    ['devices_denied', 'devices'],
    ['relayvm', 'network'],
  ];
  for (const [name, klass] of rows) {
    const c = prop(name, 'a', 'b');
    assert.equal(c.scope, 'reach', name);
    assert.equal(c.reach, klass, name);
    assert.ok(c.reason.length > 10, name);
  }
  // guivm is reach even when reset to the default (the default is another qube)
  assert.equal(prop('guivm', 'sys-gui', null).scope, 'reach');
});

test('an unknown property is reach (fail closed)', () => {
  const c = prop('future_power', null, 'x');
  assert.equal(c.scope, 'reach');
  assert.equal(c.reach, 'class');
});

test('netvm: giving network to a qube that has none is reach', () => {
  const c = prop('netvm', '', 'sys-net');
  assert.equal(c.scope, 'reach');
  assert.equal(c.reach, 'network');
  assert.match(c.reason, /has none/);
  // reset to the default: the default gives network
  assert.equal(prop('netvm', '', null).scope, 'reach');
});

test('netvm: moving a qube off the net qube it uses today is reach', () => {
  const c = prop('netvm', 'sys-firewall', 'sys-net');
  assert.equal(c.scope, 'reach');
  assert.match(c.reason, /off 'sys-firewall' to 'sys-net'/);
  // from the default (sys-firewall) to sys-net: a move
  assert.equal(prop('netvm', null, 'sys-net').scope, 'reach');
});

test('netvm: taking network away or keeping the same net qube is own', () => {
  assert.equal(prop('netvm', 'sys-firewall', '').scope, 'own');
  assert.equal(prop('netvm', null, '').scope, 'own');
  // explicit value equal to the default it follows today
  assert.equal(prop('netvm', null, 'sys-firewall').scope, 'own');
  assert.equal(prop('netvm', 'sys-firewall', null).scope, 'own');
});

test('netvm of a qube being created: any network is reach, none is own', () => {
  assert.equal(prop('netvm', null, 'sys-firewall', 'create').scope, 'reach');
  assert.equal(prop('netvm', null, '', 'create').scope, 'own');
});

test('netvm reset with an unknown default is reach', () => {
  const c = classifyQube(planned({ properties: [{ name: 'netvm', from: 'sys-firewall', to: null }] }), {
    globals: {},
  });
  assert.equal(c.reach.length, 1);
});

test('default_dispvm pointing at a qube it did not use is reach; same or none is own', () => {
  const c = prop('default_dispvm', 'default-dvm', 'sys-net-dvm');
  assert.equal(c.scope, 'reach');
  assert.equal(c.reach, 'class');
  assert.equal(prop('default_dispvm', null, 'default-dvm').scope, 'own');
  assert.equal(prop('default_dispvm', 'default-dvm', '').scope, 'own');
  assert.equal(prop('default_dispvm', null, 'default-dvm', 'create').scope, 'reach');
});

test('template changes are own (its own root file system)', () => {
  const r = classifyQube(planned({ template: { name: 'template', from: 'debian-12', to: 'fedora-40' } }), ctx);
  assert.equal(r.own.length, 1);
  assert.equal(r.reach.length, 0);
});

test('every tag change is reach (add and remove)', () => {
  const r = classifyQube(
    planned({
      tags: [
        { tag: 'admin', op: 'add' },
        { tag: 'split-gpg-client', op: 'add' },
        { tag: 'old', op: 'remove' },
      ],
    }),
    ctx,
  );
  assert.equal(r.own.length, 0);
  assert.deepEqual(
    r.reach.map((c) => [c.reach, c.key]),
    [
      ['tags', 'add|admin'],
      ['tags', 'add|split-gpg-client'],
      ['tags', 'remove|old'],
    ],
  );
});

test('device assignments are reach (every devclass); unassigning is own', () => {
  for (const devclass of ['pci', 'usb', 'block', 'mic', 'webcam']) {
    const r = classifyQube(planned({ devices: [{ op: 'assign', assignment: { ...nic, devclass } }] }), ctx);
    assert.equal(r.reach.length, 1, devclass);
    assert.equal(r.reach[0]!.reach, 'devices');
    assert.match(r.reach[0]!.reason, new RegExp(devclass));
  }
  const r = classifyQube(planned({ devices: [{ op: 'unassign', assignment: nic }] }), ctx);
  assert.equal(r.own.length, 1);
});

test('features: service.* and descriptive features are own', () => {
  for (const name of ['service.cups', 'service.qubes-updates-proxy', 'os', 'menu-items', 'vm-config.x']) {
    assert.equal(feature(name).scope, 'own', name);
  }
});

test('features that change how dom0 or other qubes treat the qube are reach', () => {
  for (const name of [
    'servicevm',
    'gui',
    'gui-allow-fullscreen',
    'gui-allow-utf8-titles',
    'gui-emulated',
    'qrexec',
    'qrexec-distinct-vm-start',
    'internal',
    'appmenus-dispvm',
    'input-dom0-proxy',
  ]) {
    const c = feature(name);
    assert.equal(c.scope, 'reach', name);
    assert.equal(c.reach, 'features', name);
  }
  // removal of a reach feature is reach too (e.g. un-hiding an internal qube)
  assert.match(feature('internal', null).reason, /^removal/);
  // an unknown feature: fail closed
  assert.equal(feature('brand-new-thing').scope, 'reach');
});

test('firewall narrowing vs widening', () => {
  const web = ['action=accept proto=tcp dstports=443-443', 'action=drop'];
  const webDns = ['action=accept specialtarget=dns', 'action=accept proto=tcp dstports=443-443', 'action=drop'];
  // from accept-all (the default) anything narrows
  assert.equal(firewallNarrows(['action=accept'], web), true);
  // to drop-all narrows anything
  assert.equal(firewallNarrows(web, ['action=drop']), true);
  // removing an accept rule narrows; adding one widens
  assert.equal(firewallNarrows(webDns, web), true);
  assert.equal(firewallNarrows(web, webDns), false);
  // removing the final drop widens (falls to the default)
  assert.equal(firewallNarrows(web, ['action=accept proto=tcp dstports=443-443']), false);
  // inserting a drop rule narrows
  assert.equal(firewallNarrows(web, ['action=drop proto=tcp dsthost=10.0.0.1', ...web]), true);
  // back to accept-all widens
  assert.equal(firewallNarrows(web, ['action=accept']), false);
  // a malformed rule is never narrowing
  assert.equal(firewallNarrows(web, ['action=drop proto=tcp', 'garbage']), false);

  const widen = classifyQube(planned({ firewall: { from: web, to: ['action=accept'] } }), ctx);
  assert.equal(widen.reach[0]?.reach, 'network');
  const narrow = classifyQube(planned({ firewall: { from: ['action=accept'], to: web } }), ctx);
  assert.equal(narrow.own[0]?.kind, 'firewall');
});

test('notes are own; a class change is reach', () => {
  assert.equal(classifyQube(planned({ notes: { changed: true, bytes: 4 } }), ctx).own[0]?.kind, 'notes');
  const r = classifyQube(planned({}, 'replace-class'), ctx);
  assert.equal(r.reach[0]?.kind, 'class');
  assert.equal(r.reach[0]?.reach, 'class');
  assert.match(r.reach[0]!.reason, /StandaloneVM/);
});

test('creating a missing qube: its reach settings are reach too', () => {
  const q = planned(
    {
      properties: [
        { name: 'memory', from: null, to: '800' },
        { name: 'provides_network', from: null, to: 'True' },
      ],
      tags: [{ tag: 'admin', op: 'add' }],
      devices: [{ op: 'assign', assignment: nic }],
    },
    'create',
  );
  const r = classifyQube(q, ctx);
  assert.deepEqual(
    r.own.map((c) => c.key),
    ['memory'],
  );
  assert.deepEqual(r.reach.map((c) => c.reach).sort(), ['devices', 'network', 'tags']);
});

// The attack: personal gets sys-net's NIC, guivm=sys-net, tags, features, provides_network, debug.
function attackPlan(): RestorePlan {
  const q = planned({
    label: { name: 'label', from: 'red', to: 'yellow' },
    properties: [
      { name: 'debug', from: null, to: 'True' },
      { name: 'guivm', from: null, to: 'sys-net' },
      { name: 'memory', from: '400', to: '800' },
      { name: 'provides_network', from: null, to: 'True' },
    ],
    features: [
      { name: 'gui-allow-fullscreen', from: null, to: '1' },
      { name: 'service.cups', from: null, to: '1' },
      { name: 'servicevm', from: null, to: '1' },
    ],
    tags: [
      { tag: 'admin', op: 'add' },
      { tag: 'split-gpg-client', op: 'add' },
    ],
    devices: [{ op: 'assign', assignment: nic }],
    notes: { changed: true, bytes: 3 },
  });
  q.changeCount = 12;
  q.deferred = ['guivm'];
  return { session: '20260101-000000', qubes: [q], order: [q.name], notMatched: [], deviceApi: '4.3' };
}

test('splitPlan without approvals keeps own changes only and lists every withheld one', () => {
  const plan = attackPlan();
  const { applied, withheld, needed } = splitPlan(plan, new Set(), ctx);
  const d = applied.qubes[0]!.changes;
  assert.deepEqual(
    d.properties.map((p) => p.name),
    ['memory'],
  );
  assert.deepEqual(
    d.features.map((f) => f.name),
    ['service.cups'],
  );
  assert.equal(d.tags.length, 0);
  assert.equal(d.devices.length, 0);
  assert.ok(d.label && d.notes);
  assert.equal(applied.qubes[0]!.changeCount, 4);
  assert.deepEqual(applied.qubes[0]!.deferred, []);
  assert.deepEqual(applied.qubes[0]!.volumes, plan.qubes[0]!.volumes);
  assert.equal(withheld.personal!.length, 8);
  assert.deepEqual(needed, ['devices', 'network', 'gui', 'tags', 'features', 'class']);
  // the input plan is not modified
  assert.equal(plan.qubes[0]!.changes.tags.length, 2);
});

test('splitPlan applies the approved classes only; all approves everything', () => {
  const { applied, withheld, needed } = splitPlan(attackPlan(), parseReachApprovals('tags,devices'), ctx);
  const d = applied.qubes[0]!.changes;
  assert.equal(d.tags.length, 2);
  assert.equal(d.devices.length, 1);
  assert.ok(!withheld.personal!.some((c) => c.reach === 'tags' || c.reach === 'devices'));
  assert.deepEqual(needed, ['network', 'gui', 'features', 'class']);

  const all = splitPlan(attackPlan(), parseReachApprovals(['all']), ctx);
  assert.deepEqual(all.withheld, {});
  assert.deepEqual(all.applied, attackPlan());
});

test('splitPlan: a withheld class change withholds the whole qube', () => {
  const q = planned({ properties: [{ name: 'memory', from: '1', to: '2' }] }, 'replace-class');
  const plan: RestorePlan = { session: 's', qubes: [q], order: ['personal'], notMatched: [], deviceApi: '4.3' };
  const { applied, withheld } = splitPlan(plan, parseReachApprovals('devices'), ctx);
  assert.equal(applied.qubes[0]!.action, 'skip');
  assert.deepEqual(applied.qubes[0]!.volumes, []);
  assert.equal(withheld.personal![0]!.kind, 'class');
  assert.equal(splitPlan(plan, parseReachApprovals('class'), ctx).applied.qubes[0]!.action, 'replace-class');
});

test('withholdFromDiff filters a diff re-read after create by the same keys', () => {
  const plan = attackPlan();
  const held = classifyPlan(plan, ctx)[0]!.reach;
  const d = withholdFromDiff(plan.qubes[0]!.changes, held);
  assert.equal(d.devices.length + d.tags.length, 0);
  assert.deepEqual(withholdFromDiff(plan.qubes[0]!.changes, []), plan.qubes[0]!.changes);
});

test('parseReachApprovals refuses unknown words', () => {
  assert.deepEqual([...parseReachApprovals(' gui , network ')], ['gui', 'network']);
  assert.throws(
    () => parseReachApprovals('gui,\x1b[31mroot'),
    (e: unknown) => e instanceof WqError && e.kind === 'input' && !e.message.includes('\x1b'),
  );
});
