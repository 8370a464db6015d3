import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WqError } from '../../src/core/errors.ts';
import {
  narrowRequest,
  ProfileSchema,
  RpcRequestSchema,
  type Profile,
  type RpcOperation,
  type RpcRequest,
} from '../../src/core/profiles.ts';
import {
  MAX_REQUEST_BYTES,
  parseRequest,
  parseServiceCall,
  privilegedCallFrom,
  rawCallFromPrivileged,
  validateCall,
} from '../../src/core/rpc.ts';
import { buildRequest, parseOperation, parseReply, qrexecFailure, serviceCall } from '../../src/core/remote.ts';

const PROFILE: Profile = ProfileSchema.parse({
  dest: 'file:/mnt/backup',
  qubes: ['work', 'personal'],
  exclude: ['scratch'],
  remote: {
    operations: ['Backup', 'Restore', 'Verify', 'List', 'Prune', 'Status'],
    restore_qubes: ['work'],
    callers: ['mgmt'],
  },
});

function refusal(fn: () => unknown): WqError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WqError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

const narrow = (op: RpcOperation, request: RpcRequest, caller = 'mgmt', profile = PROFILE) =>
  narrowRequest(op, 'nightly', profile, request, caller);

test('an operation the profile does not list is refused', () => {
  const p = ProfileSchema.parse({ dest: 'file:/b', qubes: ['work'], remote: { operations: ['List'] } });
  for (const op of ['Backup', 'Restore', 'Verify', 'Prune', 'Status'] as const) {
    const e = refusal(() => narrow(op, {}, 'mgmt', p));
    assert.equal(e.kind, 'forbidden');
    assert.match(e.message, new RegExp(`does not allow remote ${op}`));
  }
  const none = ProfileSchema.parse({ dest: 'file:/b' });
  assert.equal(refusal(() => narrow('List', {}, 'mgmt', none)).kind, 'forbidden', 'default: no remote operation');
  assert.deepEqual(narrow('List', {}, 'mgmt', p), { operation: 'List', command: 'list', options: { qubes: [] } });
});

test('callers: checked when given, required for Restore and Prune; dom0 always passes', () => {
  assert.match(refusal(() => narrow('List', {}, 'work')).message, /does not accept calls from qube 'work'/);
  const open = ProfileSchema.parse({
    dest: 'file:/b',
    remote: { operations: ['List', 'Restore', 'Prune'], restore_qubes: ['work'] },
  });
  assert.equal(narrow('List', {}, 'anyone', open).operation, 'List');
  assert.match(
    refusal(() => narrow('Restore', {}, 'anyone', open)).message,
    /only for the qubes listed in remote\.callers/,
  );
  assert.match(
    refusal(() => narrow('Prune', { session: '20250101-000000' }, 'anyone', open)).message,
    /remote\.callers/,
  );
  assert.equal(narrow('Restore', {}, 'dom0', open).operation, 'Restore');
  assert.equal(narrow('List', {}, 'dom0').operation, 'List');
});

test('Backup: only qubes of the profile; exclude only removes; no session or dry run', () => {
  assert.deepEqual(narrow('Backup', {}), {
    operation: 'Backup',
    command: 'backup',
    options: { qubes: ['work', 'personal'], includes: false, exclude: ['scratch'] },
  });
  assert.deepEqual(narrow('Backup', { qubes: ['personal'], exclude: ['x'] }), {
    operation: 'Backup',
    command: 'backup',
    options: { qubes: ['personal'], includes: false, exclude: ['scratch', 'x'] },
  });
  const outside = refusal(() => narrow('Backup', { qubes: ['work', 'vault'] }));
  assert.equal(outside.kind, 'forbidden');
  assert.match(outside.message, /Not in profile 'nightly': vault/);
  assert.equal(refusal(() => narrow('Backup', { session: '20250101-000000' })).kind, 'input');
  assert.equal(refusal(() => narrow('Backup', { dryRun: true })).kind, 'input');
  assert.equal(refusal(() => narrow('Backup', { qubes: [] })).kind, 'input');
  const includes = ProfileSchema.parse({ dest: 'file:/b', includes: true, remote: { operations: ['Backup'] } });
  assert.deepEqual(narrow('Backup', {}, 'x', includes), {
    operation: 'Backup',
    command: 'backup',
    options: { qubes: [], includes: true, exclude: [] },
  });
  assert.equal(
    refusal(() => narrow('Backup', { qubes: ['work'] }, 'x', includes)).kind,
    'forbidden',
    'includes: true does not open arbitrary names',
  );
});

test('Restore: only remote.restore_qubes (all of them by default), session, dry run', () => {
  assert.deepEqual(narrow('Restore', {}), { operation: 'Restore', command: 'restore', options: { qubes: ['work'] } });
  assert.deepEqual(narrow('Restore', { qubes: ['work'], session: '20250101-000000', dryRun: true }), {
    operation: 'Restore',
    command: 'restore',
    options: { qubes: ['work'], session: '20250101-000000', dryRun: true },
  });
  const e = refusal(() => narrow('Restore', { qubes: ['personal'] }));
  assert.equal(e.kind, 'forbidden');
  assert.match(e.message, /does not allow restoring: personal/);
  assert.equal(refusal(() => narrow('Restore', { qubes: ['dom0'] })).kind, 'forbidden');
  assert.equal(refusal(() => narrow('Restore', { exclude: ['work'] })).kind, 'input');
  assert.equal(refusal(() => narrow('Restore', { session: '20250101-000000,20250102-000000' })).kind, 'input');
  const none = ProfileSchema.parse({ dest: 'file:/b', remote: { operations: ['Restore'], callers: ['mgmt'] } });
  assert.match(refusal(() => narrow('Restore', {}, 'mgmt', none)).message, /allows restoring no qubes/);
});

test('Restore: a plan digest (expectPlan) passes to the restore; it is no field of other operations', () => {
  const digest = 'ab'.repeat(32);
  assert.deepEqual(narrow('Restore', { qubes: ['work'], expectPlan: digest }), {
    operation: 'Restore',
    command: 'restore',
    options: { qubes: ['work'], expectPlan: digest },
  });
  assert.equal(refusal(() => narrow('Verify', { expectPlan: digest })).kind, 'input');
  assert.equal(RpcRequestSchema.safeParse({ expectPlan: 'AB'.repeat(32) }).success, false);
  assert.equal(RpcRequestSchema.safeParse({ allowRollback: true }).success, false, 'a caller cannot allow rollback');
});

test('Verify, List, Prune, Status: fields each operation accepts', () => {
  assert.deepEqual(narrow('Verify', { qubes: ['vault'], session: '20250101-000000', includeDisposable: true }), {
    operation: 'Verify',
    command: 'verify',
    options: { qubes: ['vault'], exclude: ['scratch'], session: '20250101-000000', includeDisposable: true },
  });
  // No names: the profile's qubes, minus what the request excludes.
  assert.deepEqual(narrow('Verify', { exclude: ['work'] }), {
    operation: 'Verify',
    command: 'verify',
    options: { qubes: ['personal'], exclude: ['scratch', 'work'] },
  });
  assert.equal(refusal(() => narrow('Verify', { exclude: ['work', 'personal'] })).kind, 'input');
  const includes = ProfileSchema.parse({ dest: 'file:/b', includes: true, remote: { operations: ['Verify'] } });
  assert.deepEqual(narrow('Verify', { session: '20250101-000000', exclude: ['x'] }, 'a', includes), {
    operation: 'Verify',
    command: 'verify',
    options: { qubes: [], exclude: ['x'], session: '20250101-000000' },
  });
  assert.deepEqual(narrow('Prune', { session: '20250101-000000,20250301-000000' }), {
    operation: 'Prune',
    command: 'prune',
    options: { qubes: [], session: '20250101-000000,20250301-000000' },
  });
  assert.equal(refusal(() => narrow('List', { exclude: ['a'] })).kind, 'input');
  assert.equal(refusal(() => narrow('List', { dryRun: false })).kind, 'input');
  assert.equal(refusal(() => narrow('Prune', { dryRun: true })).kind, 'input');
  assert.equal(refusal(() => narrow('Prune', { exclude: ['a'] })).kind, 'input');
  assert.deepEqual(narrow('Status', {}), { operation: 'Status' });
  assert.equal(refusal(() => narrow('Status', { qubes: ['work'] })).kind, 'input');
});

const env = (full: string | undefined, arg: string | undefined, caller: string | undefined, script?: string) => ({
  scriptService: script,
  fullName: full,
  argument: arg,
  remoteDomain: caller,
});

test('service, argument and caller come from the qrexec environment and are validated, never fixed up', () => {
  assert.deepEqual(parseServiceCall(env('wyng.Backup+nightly', 'nightly', 'mgmt', 'wyng.Backup')), {
    operation: 'Backup',
    profile: 'nightly',
    caller: 'mgmt',
  });
  // Run directly in dom0 (design.md "qrexec services"): no FULL_NAME, the script names the service.
  assert.deepEqual(parseServiceCall(env(undefined, 'nightly', 'dom0', 'wyng.List')), {
    operation: 'List',
    profile: 'nightly',
    caller: 'dom0',
  });
  const bad: Array<[ReturnType<typeof env>, RegExp]> = [
    [env('wyng.Backup+nightly', 'nightly', undefined), /QREXEC_REMOTE_DOMAIN is not set/],
    [env('wyng.Backup+nightly', 'nightly', '1bad'), /Invalid calling qube/],
    [env('wyng.Backup+nightly', 'weekly', 'mgmt'), /does not match/],
    [env('wyng.Backup+nightly', 'nightly', 'mgmt', 'wyng.Restore'), /reached the entry point of wyng\.Restore/],
    [env('wyng.Delete+nightly', 'nightly', 'mgmt'), /Unknown service 'wyng\.Delete'/],
    [env('qubes.Backup+nightly', 'nightly', 'mgmt'), /Unknown service/],
    [env('wyng.Backup+', '', 'mgmt'), /needs a profile name/],
    [env('wyng.Backup', undefined, 'mgmt'), /needs a profile name/],
    [env('wyng.Backup+Nightly', 'Nightly', 'mgmt'), /Invalid profile name 'Nightly'/],
    [env('wyng.Backup+-x', '-x', 'mgmt'), /Invalid profile name/],
    [env('wyng.Backup+..', '..', 'mgmt'), /Invalid profile name/],
    [env('wyng.Backup+a+b', 'a+b', 'mgmt'), /Invalid profile name/],
    [env('wyng.Backup+a.b', 'a.b', 'mgmt'), /Invalid profile name/],
    [env(`wyng.Backup+${'a'.repeat(65)}`, 'a'.repeat(65), 'mgmt'), /Invalid profile name/],
    [env(undefined, 'nightly', 'dom0'), /No service/],
  ];
  for (const [e, re] of bad) {
    const err = refusal(() => parseServiceCall(e));
    assert.equal(err.kind, 'input');
    assert.match(err.message, re, JSON.stringify(e));
  }
  // qrexec turns "night/ly" into "night_ly": a valid name, which simply is not a profile.
  assert.equal(parseServiceCall(env('wyng.Backup+night_ly', 'night_ly', 'mgmt')).profile, 'night_ly');
});

test('the request: UTF-8 JSON object, strict schema, bounded; empty input is {}', () => {
  assert.deepEqual(parseRequest(Buffer.from('')), {});
  assert.deepEqual(parseRequest(Buffer.from(' \n')), {});
  assert.deepEqual(parseRequest(Buffer.from('{"qubes":["work"],"dryRun":true}')), { qubes: ['work'], dryRun: true });
  const bad: Array<[string | Buffer, RegExp]> = [
    ['{"qubes":["work"]', /not valid JSON/],
    ['[]', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['"x"', /must be a JSON object/],
    ['{"dest":"file:/evil"}', /Unrecognized key/],
    ['{"__proto__":{"x":1}}', /Unrecognized key/],
    ['{"qubes":"work"}', /qubes/],
    ['{"qubes":["../etc"]}', /invalid qube name/],
    ['{"qubes":["work; rm -rf /"]}', /invalid qube name/],
    ['{"session":"newest"}', /session must be/],
    ['{"session":"20250101-000000 --all"}', /session must be/],
    ['{"dryRun":"yes"}', /dryRun/],
    [Buffer.from([0x7b, 0xff, 0x7d]), /not valid UTF-8/],
    [`{"qubes":[${'"a",'.repeat(300)}"a"]}`, /qubes/],
    [' '.repeat(MAX_REQUEST_BYTES + 1), /larger than/],
  ];
  for (const [input, re] of bad) {
    const e = refusal(() => parseRequest(typeof input === 'string' ? Buffer.from(input) : input));
    assert.equal(e.kind, 'input');
    assert.match(e.message, re, String(input).slice(0, 60));
  }
});

test('validateCall digests the request bytes; the privileged hand-over round-trips and is validated again', () => {
  const stdin = Buffer.from('{"qubes":["work"]}');
  const call = validateCall({ ...env('wyng.Verify+nightly', 'nightly', 'mgmt', 'wyng.Verify'), stdin });
  assert.match(call.digest, /^[0-9a-f]{64}$/);
  const handed = Buffer.from(JSON.stringify(privilegedCallFrom(call, stdin)));
  const again = validateCall(rawCallFromPrivileged(handed));
  assert.deepEqual(again, call);
  const tampered = Buffer.from(JSON.stringify({ ...privilegedCallFrom(call, stdin), argument: '../x' }));
  assert.equal(refusal(() => validateCall(rawCallFromPrivileged(tampered))).kind, 'input');
  const extra = Buffer.from(JSON.stringify({ ...privilegedCallFrom(call, stdin), dest: 'x' }));
  assert.equal(refusal(() => rawCallFromPrivileged(extra)).kind, 'input');
});

test('remote client: operation, service name, request and qrexec exit codes', () => {
  assert.equal(parseOperation('backup'), 'Backup');
  assert.equal(parseOperation('Status'), 'Status');
  assert.equal(refusal(() => parseOperation('delete')).kind, 'option');
  assert.equal(serviceCall('List', 'nightly'), 'wyng.List+nightly');
  assert.equal(refusal(() => serviceCall('List', undefined)).kind, 'option');
  assert.equal(refusal(() => serviceCall('List', 'a/b')).kind, 'option');
  assert.deepEqual(buildRequest({ qubes: [], exclude: [], dryRun: false, includeDisposable: false }), {});
  assert.deepEqual(buildRequest({ qubes: ['work'], session: '20250101-000000', dryRun: true }), {
    qubes: ['work'],
    session: '20250101-000000',
    dryRun: true,
  });
  assert.equal(refusal(() => buildRequest({ session: 'newest' })).kind, 'option');
  assert.equal(qrexecFailure('wyng.List+n', 126, undefined).exitCode, 126);
  assert.match(qrexecFailure('wyng.List+n', 126, undefined).message, /refused .*policy/);
  assert.equal(qrexecFailure('wyng.List+n', 127, undefined).exitCode, 127);
  assert.match(qrexecFailure('wyng.List+n', 127, undefined).message, /not installed in dom0/);
  assert.equal(qrexecFailure('wyng.List+n', 125, undefined).exitCode, 125);
  assert.equal(qrexecFailure('wyng.List+n', 3, undefined).kind, 'internal');
  assert.equal(parseReply('{"ok":true,"exitCode":0,"command":"list","result":{},"errors":[]}\n')?.ok, true);
  assert.equal(parseReply('{"ok":true}'), undefined);
  assert.equal(parseReply('{}\n{}'), undefined);
  assert.equal(parseReply('Request refused'), undefined);
});
