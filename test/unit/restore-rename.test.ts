// Renames of a restore (src/core/restore/rename.ts): --as and --rename-conflicting choose the new
// names; applyRenames rewrites the target (references among restored qubes, devices of copies,
// notes and session volumes under the new names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QubeClass, QubeSettings } from '../../src/core/qubes/model.ts';
import { applyRenames, planRenames } from '../../src/core/restore/rename.ts';

const q = (name: string, klass: QubeClass, properties: Record<string, string> = {}): QubeSettings => ({
  name,
  klass,
  properties: { label: 'red', ...properties },
  features: {},
  tags: ['created-by-dom0', 'keep'],
  devices: [{ devclass: 'pci', backend: 'dom0', port: '00_05.0', deviceId: '*', mode: 'required', options: {} }],
});
const live = (name: string, klass: QubeClass) => ({ name, klass, state: 'Halted' as const });

test('--as: one free, valid name for exactly one qube', () => {
  const archived = [q('work', 'AppVM'), q('vault', 'AppVM')];
  const base = { renameConflicting: false, selected: ['work'] };
  assert.deepEqual(planRenames({ ...base, qubes: ['work'], as: 'work-old' }, archived, [live('work', 'AppVM')]), {
    work: 'work-old',
  });
  const bad: Array<[Parameters<typeof planRenames>[0], RegExp]> = [
    [{ ...base, qubes: ['work', 'vault'], as: 'x' }, /exactly one qube/],
    [{ ...base, qubes: [], as: 'x' }, /exactly one qube/],
    [{ ...base, qubes: ['work'], as: 'x'.repeat(32) }, /longer than 31/],
    [{ ...base, qubes: ['work'], as: 'work' }, /own name/],
    [{ ...base, qubes: ['work'], as: 'vault' }, /another qube named 'vault'/],
    [{ ...base, qubes: ['work'], as: 'sys-net' }, /already exists/],
    [{ ...base, renameConflicting: true, qubes: ['work'], as: 'copy' }, /exclude each other/],
  ];
  for (const [request, message] of bad)
    assert.throws(() => planRenames(request, archived, [live('work', 'AppVM'), live('sys-net', 'AppVM')]), message);
});

test('--rename-conflicting: another class live → the first free NAME<n>; same class → no rename', () => {
  const archived = [q('tpl', 'TemplateVM'), q('app', 'AppVM'), q('same', 'AppVM'), q('tpl2', 'AppVM')];
  const renames = planRenames({ qubes: [], renameConflicting: true, selected: ['tpl', 'app', 'same'] }, archived, [
    live('tpl', 'StandaloneVM'),
    live('tpl1', 'AppVM'),
    live('same', 'AppVM'),
    live('app', 'DispVM'),
  ]);
  assert.deepEqual(renames, { tpl: 'tpl3', app: 'app1' }, 'tpl1 is live, tpl2 is archived');
  assert.throws(
    () =>
      planRenames(
        { qubes: [], renameConflicting: true, selected: ['a'.repeat(31)] },
        [q('a'.repeat(31), 'AppVM')],
        [live('a'.repeat(31), 'StandaloneVM')],
      ),
    /cannot be renamed/,
  );
});

test('applyRenames: references follow, copies lose devices, notes and volumes move with the name', () => {
  const source = {
    system: {
      globals: {},
      labels: [],
      pools: [],
      qubes: [q('tpl', 'TemplateVM'), q('app', 'AppVM', { template: 'tpl', netvm: 'sys-net' }), q('other', 'AppVM')],
    },
    notes: { tpl: 'template notes', other: 'x' },
  };
  const r = applyRenames(
    { source, sessionVolumes: { tpl: { private: 'vm-tpl-private', root: 'vm-tpl-root' }, app: { private: 'p' } } },
    { tpl: 'tpl1' },
    { qubes: ['tpl', 'app'], selected: ['tpl', 'app'] },
  );
  const byName = new Map(r.source.system.qubes.map((x) => [x.name, x]));
  assert.deepEqual([...byName.keys()], ['tpl1', 'app', 'other']);
  assert.equal(byName.get('app')!.properties.template, 'tpl1');
  assert.equal(byName.get('app')!.properties.netvm, 'sys-net');
  assert.deepEqual(byName.get('tpl1')!.devices, []);
  assert.equal(byName.get('app')!.devices.length, 1, 'a qube restored under its own name keeps its devices');
  assert.deepEqual(r.source.notes, { tpl1: 'template notes', other: 'x' });
  assert.deepEqual(r.sessionVolumes.tpl1, { private: 'vm-tpl-private', root: 'vm-tpl-root' });
  assert.equal(r.sessionVolumes.tpl, undefined);
  assert.deepEqual(r.qubes, ['tpl1', 'app']);
});
