// Issue 16: the restore preview names the running qubes that lose network while a restore has
// their net qube (directly or further up the chain) stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyDiff } from '../../src/core/restore/diff.ts';
import { computeNetLoss, mayCutNetwork, stoppedBy } from '../../src/core/restore/net-loss.ts';
import type { PlannedQube } from '../../src/core/restore/plan.ts';
import { renderNetLoss, renderPlan } from '../../src/core/restore/render.ts';

function planned(name: string, extra: Partial<PlannedQube> = {}): PlannedQube {
  return {
    name,
    klass: 'AppVM',
    action: 'overwrite',
    liveClass: 'AppVM',
    running: false,
    stopDisposables: [],
    create: null,
    volumes: [],
    changes: emptyDiff(),
    changeCount: 0,
    deferred: [],
    overrides: {},
    problems: [],
    staleTag: false,
    fails: false,
    ...extra,
  };
}

// sys-net ← sys-firewall ← {work, dvm-disp}; sys-net ← sys-usb-net ← (nothing); vault offline
const running = {
  'sys-net': '',
  'sys-firewall': 'sys-net',
  work: 'sys-firewall',
  disp7: 'sys-firewall',
  'sys-vpn': 'sys-firewall',
  banking: 'sys-vpn',
  vault: '',
};

test('a stopped net qube cuts off every running qube behind it, transitively, sorted', () => {
  assert.deepEqual(computeNetLoss({ stopped: { 'sys-net': ['sys-net'] }, runningNetvms: running }), {
    'sys-net': ['banking', 'disp7', 'sys-firewall', 'sys-vpn', 'work'],
  });
  assert.deepEqual(computeNetLoss({ stopped: { 'sys-vpn': ['sys-vpn'] }, runningNetvms: running }), {
    'sys-vpn': ['banking'],
  });
});

test('a qube nobody uses as netvm cuts nobody off; its entry is empty', () => {
  assert.deepEqual(computeNetLoss({ stopped: { work: ['work'], vault: ['vault'] }, runningNetvms: running }), {
    work: [],
    vault: [],
  });
});

test('qubes the restore stops itself are not listed, but the qubes behind them are', () => {
  const loss = computeNetLoss({
    stopped: { 'sys-net': ['sys-net'], 'sys-firewall': ['sys-firewall'] },
    runningNetvms: running,
  });
  assert.deepEqual(loss['sys-net'], ['banking', 'disp7', 'sys-vpn', 'work']);
  assert.deepEqual(loss['sys-firewall'], ['banking', 'disp7', 'sys-vpn', 'work']);
});

test('a disposable template whose running disposable is a net qube cuts off the users of that qube', () => {
  const loss = computeNetLoss({
    stopped: { 'net-dvm': ['disp-net'] },
    runningNetvms: { 'disp-net': '', a: 'disp-net' },
  });
  assert.deepEqual(loss, { 'net-dvm': ['a'] });
});

test('a netvm loop (hostile or inconsistent state) ends; a qube naming itself is no user of anything', () => {
  const loss = computeNetLoss({ stopped: { x: ['x'] }, runningNetvms: { x: 'y', y: 'x', z: 'z' } });
  assert.deepEqual(loss, { x: ['y'] });
});

test('what a plan stops: running qubes and running disposables of qubes it carries out', () => {
  const plan = {
    qubes: [
      planned('sys-net', { running: true }),
      planned('dvm', { stopDisposables: ['disp1', 'disp2'] }),
      planned('work', { running: true, fails: true }),
      planned('held', { running: true, action: 'skip' }),
      planned('new', { action: 'create', liveClass: null }),
    ],
  };
  assert.deepEqual(stoppedBy(plan), { 'sys-net': ['sys-net'], dvm: ['disp1', 'disp2'] });
});

test('the live netvms are read only when a stopped qube may provide network', () => {
  const provides = (q: string): boolean => q === 'sys-net';
  assert.equal(mayCutNetwork({ qubes: [planned('sys-net', { running: true })] }, provides), true);
  assert.equal(mayCutNetwork({ qubes: [planned('sys-net')] }, provides), false, 'halted: stops nothing');
  assert.equal(mayCutNetwork({ qubes: [planned('work', { running: true })] }, provides), false);
  assert.equal(mayCutNetwork({ qubes: [planned('sys-net', { running: true, fails: true })] }, provides), false);
  assert.equal(mayCutNetwork({ qubes: [planned('dvm', { stopDisposables: ['d1'] })] }, provides), true);
});

test('the plan text and the confirmation name the qubes, escaped for the terminal', () => {
  const plan = {
    session: '20261201-100000',
    qubes: [
      planned('sys-net', { running: true, netLoss: ['sys-firewall', 'wo\x1b[8mrk'] }),
      planned('work', { running: true, netLoss: [] }),
    ],
    order: ['sys-net', 'work'],
    notMatched: [],
    deviceApi: '4.3' as const,
  };
  const text = renderPlan(plan, false);
  assert.match(
    text,
    /sys-net \(AppVM\): overwrite\n {6}warning: running qubes lose network while 'sys-net' is stopped \(until started again\): sys-firewall, wo\\x1b\[8mrk\n {2}work/,
  );
  assert.equal(text.match(/lose network/g)?.length, 1, 'work cuts nobody off');
  assert.ok(!text.includes('\x1b'));
  const confirm = renderNetLoss(plan);
  assert.match(confirm, /^\nWarning: {2}running qubes will lose network/);
  assert.match(confirm, /'sys-net' is stopped \(until started again\): sys-firewall, wo\\x1b\[8mrk$/);
  assert.equal(renderNetLoss({ qubes: [planned('work', { netLoss: [] }), planned('x')] }), '');
  assert.match(
    renderNetLoss({ qubes: [planned('dvm', { stopDisposables: ['disp-net'], netLoss: ['a'] })] }),
    /the disposables of 'dvm' are stopped \(until started again\): a$/,
  );
});
