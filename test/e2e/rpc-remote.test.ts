import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, runBundle, runInProcess } from '../helpers/cli.ts';
import { QREXEC_CLIENT_STUB, rpcSandboxOptions, SERVICES_DIR } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { remote } from '../../src/index.ts';

/**
 * `wyng-qubes remote` (and the library's `remote()`) in a management qube, against a stub
 * qrexec-client-vm that plays qrexec: it refuses denied calls (126), knows missing (127) and
 * broken (125) services, and otherwise runs the real service script with the bundle.
 */

const PROFILES = (sb: Sandbox): string => `profiles:
  nightly:
    dest: ${sb.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [Backup, Restore, List, Status]
      restore_qubes: [work]
      callers: [mgmt]
`;

async function sandbox(extra: Record<string, string> = {}): Promise<Sandbox & { dom0Log: string }> {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const dom0Log = join(sb.dir, 'dom0.log');
  Object.assign(sb.env, {
    WYNG_QUBES_QREXEC_CLIENT: QREXEC_CLIENT_STUB,
    STUB_NODE: process.execPath,
    STUB_SERVICES_DIR: SERVICES_DIR,
    STUB_BUNDLE: BUNDLE,
    STUB_DOM0_LOG: dom0Log,
    ...extra,
  });
  return Object.assign(sb, { dom0Log });
}

test('remote list --json: the service runs in "dom0" and its document comes back', async () => {
  const sb = await sandbox();
  const r = await runBundle(['remote', 'list', '--profile', 'nightly', 'work', '--json'], { env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    ok: boolean;
    command: string;
    result: { archive: { url: string | null }; qubes: Record<string, unknown> };
  };
  assert.equal(doc.ok, true);
  assert.equal(doc.command, 'remote');
  assert.equal(doc.result.archive.url, null, 'the archive URL stays in dom0');
  assert.deepEqual(Object.keys(doc.result.qubes), ['work']);
  assert.equal(sb.auditLines()[0]?.remoteDomain, 'mgmt');
  assert.equal(sb.auditLines()[0]?.service, 'wyng.List');
  // Human form.
  const human = await runInProcess(['remote', 'List', '--profile=nightly'], { env: sb.env });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /wyng\.List\+nightly: done\./);
  assert.match(human.stdout, /^URL \(withheld by dom0\)$/m);
});

test('remote sends only the request; a refusal by the profile comes back as the service JSON (exit 9)', async () => {
  const sb = await sandbox();
  const r = await runInProcess(['remote', 'restore', '--profile', 'nightly', 'personal', '--dry-run', '--json'], {
    env: sb.env,
  });
  assert.equal(r.code, 9);
  const doc = JSON.parse(r.stdout) as { errors: Array<{ kind: string; message: string }> };
  assert.equal(doc.errors[0]!.kind, 'forbidden');
  assert.match(doc.errors[0]!.message, /does not allow restoring: personal/);
  const human = await runInProcess(['remote', 'backup', '--profile', 'nightly', 'vault'], { env: sb.env });
  assert.equal(human.code, 9);
  assert.match(human.stderr, /wyng\.Backup\+nightly: Not in profile 'nightly': vault/);
  assert.deepEqual(sb.wyngCalls(), []);
  // dom0's stderr stayed in dom0's log.
  assert.match(readFileSync(sb.dom0Log, 'utf8'), /wyng-qubes audit/);
  assert.doesNotMatch(r.stderr + human.stderr, /wyng-qubes audit/);
});

test("qrexec's own failures: 126 refused by policy, 127 not installed, 125 broken service", async () => {
  const denied = await sandbox({ STUB_DENY: 'wyng.Backup+nightly' });
  const r126 = await runInProcess(['remote', 'backup', '--profile', 'nightly', '--json'], { env: denied.env });
  assert.equal(r126.code, 126);
  const d126 = JSON.parse(r126.stdout) as { ok: boolean; errors: Array<{ kind: string; message: string }> };
  assert.equal(d126.ok, false);
  assert.equal(d126.errors[0]!.kind, 'policy-refused');
  assert.match(d126.errors[0]!.message, /refused wyng\.Backup\+nightly.*qrexec policy/);

  const empty = await sandbox({ STUB_SERVICES_DIR: join(denied.dir, 'none') });
  const r127 = await runInProcess(['remote', 'status', '--profile', 'nightly'], { env: empty.env });
  assert.equal(r127.code, 127);
  assert.match(r127.stderr, /wyng\.Status is not installed in dom0/);

  const brokenDir = join(denied.dir, 'services');
  mkdirSync(brokenDir);
  copyFileSync(join(SERVICES_DIR, 'wyng.List'), join(brokenDir, 'wyng.List'));
  chmodSync(join(brokenDir, 'wyng.List'), 0o644);
  const broken = await sandbox({ STUB_SERVICES_DIR: brokenDir });
  const r125 = await runInProcess(['remote', 'list', '--profile', 'nightly', '--json'], { env: broken.env });
  assert.equal(r125.code, 125);
  assert.equal((JSON.parse(r125.stdout) as { errors: Array<{ kind: string }> }).errors[0]!.kind, 'qrexec');

  const noClient = await sandbox({ WYNG_QUBES_QREXEC_CLIENT: join(brokenDir, 'qrexec-client-vm') });
  const missing = await runInProcess(['remote', 'list', '--profile', 'nightly'], { env: noClient.env });
  assert.equal(missing.code, 9);
  assert.match(missing.stderr, /not found: run 'remote' in a qube/);
});

test('remote refuses what it cannot send, before calling qrexec', async () => {
  const sb = await sandbox({ STUB_DENY: 'x' });
  for (const [argv, re] of [
    [['remote', 'list', '--profile', 'nightly', '--dest=file:/x'], /cannot send --dest/],
    [['remote', 'list', '--profile', 'nightly', '-w', 'passcmd=x'], /cannot send --wyngopt/],
    [['remote', 'list'], /needs --profile/],
    [['remote', 'list', '--profile', 'Night/ly'], /Invalid profile name|profile name may contain/],
    [['remote', 'delete', '--profile', 'nightly'], /needs an operation/],
    [['remote', '--profile', 'nightly'], /needs an operation/],
    [['remote', 'list', '--profile', 'nightly', '--session', 'newest'], /session/],
    [['remote', 'list', '--profile', 'nightly', '1bad'], /invalid qube name/],
  ] as Array<[string[], RegExp]>) {
    const r = await runInProcess(argv, { env: sb.env });
    assert.equal(r.code, 9, argv.join(' '));
    assert.match(r.stderr, re, argv.join(' '));
  }
  assert.deepEqual(sb.auditLines(), [], 'no call reached the service');
});

test('library remote(): the same call, typed', async () => {
  const sb = await sandbox();
  const ok = await remote('List', { profile: 'nightly', qubes: ['personal'] }, { env: sb.env });
  assert.equal(ok.ok, true, JSON.stringify(ok.errors));
  assert.deepEqual(Object.keys((ok.result as { qubes: Record<string, unknown> }).qubes), ['personal']);
  const status = await remote('Status', { profile: 'nightly' }, { env: sb.env });
  assert.equal(status.ok, true);
  assert.deepEqual(status.result, { running: null, reports: {} });
  const denied = await remote(
    'Backup',
    { profile: 'nightly' },
    { env: { ...sb.env, STUB_DENY: 'wyng.Backup+nightly' } },
  );
  assert.equal(denied.exitCode, 126);
  await assert.rejects(remote('List', { profile: '../x' }, { env: sb.env }), /Invalid profile name/);
});
