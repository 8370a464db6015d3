// Profile keys of issue 19: options.dom0_home (+ dom0_user, dom0_home_exclude) reach a backup
// and never a restore (so no profile — and no rpc call through one — makes a restore extract
// dom0's home); remote.restore_as gates wyng.Restore "as".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommonOptionsSchema } from '../../src/core/options.ts';
import { mergeProfile, narrowRequest, ProfileSchema, RpcRequestSchema } from '../../src/core/profiles.ts';

const defaults = CommonOptionsSchema.parse({});

test('options.dom0_home applies to backup only', () => {
  const p = ProfileSchema.parse({
    dest: 'file:/b',
    options: { dom0_home: true, dom0_user: 'alice', dom0_home_exclude: ['.cache', 'Downloads'] },
  });
  const backup = mergeProfile('backup', p, defaults, [], new Set()).options;
  assert.equal(backup.dom0Home, true);
  assert.equal(backup.dom0User, 'alice');
  assert.deepEqual(backup.dom0HomeExclude, ['.cache', 'Downloads']);
  for (const command of ['restore', 'list', 'verify'] as const) {
    const o = mergeProfile(command, p, defaults, [], new Set()).options;
    assert.equal(o.dom0Home, false, command);
    assert.equal(o.dom0User, undefined, command);
  }
  assert.equal(RpcRequestSchema.safeParse({ qubes: ['work'], dom0Home: true }).success, false);
});

test('remote.restore_as gates "as"; it needs exactly one named qube', () => {
  const remote = { operations: ['Restore'], restore_qubes: ['work', 'vault'], callers: ['mgmt'] };
  const plain = ProfileSchema.parse({ dest: 'file:/b', remote });
  const copies = ProfileSchema.parse({ dest: 'file:/b', remote: { ...remote, restore_as: true } });
  const req = RpcRequestSchema.parse({ qubes: ['work'], as: 'work-old' });
  assert.throws(() => narrowRequest('Restore', 'plain', plain, req, 'mgmt'), /restore_as/);
  const plan = narrowRequest('Restore', 'copies', copies, req, 'mgmt');
  assert.ok('options' in plan);
  assert.equal(plan.options.as, 'work-old');
  assert.deepEqual(plan.options.qubes, ['work']);
  assert.throws(
    () => narrowRequest('Restore', 'copies', copies, RpcRequestSchema.parse({ as: 'work-old' }), 'mgmt'),
    /exactly one qube/,
  );
  assert.equal(RpcRequestSchema.safeParse({ qubes: ['work'], as: 'bad name' }).success, false);
});
