// Issue 14 §3: the qrexec side. A global cap on RPC processes, Status limited to its profile,
// the privileged part's environment and callers, and what a remote caller learns of errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, runBundle } from '../helpers/cli.ts';
import { onlyDocument, qrexecEnv, rpcSandboxOptions, runService, spawnService, SUDO_STUB } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

// nightly: the sandbox's (seeded) archive; other and hooked: places with no archive (Wyng fails there)
const PROFILES = (sb: Sandbox): string => `profiles:
  nightly:
    dest: ${sb.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [List, Verify, Status]
      callers: [mgmt]
  other:
    dest: file:/mnt/other-secret-place
    remote: { operations: [List, Verify, Status], callers: [mgmt] }
  hooked:
    dest: file:/mnt/hooked
    hooks:
      before: [/bin/sh, -c, "echo cannot mount /dev/mapper/secret-vg >&2; exit 3"]
    remote: { operations: [Verify], callers: [mgmt] }
`;

function call(sb: Sandbox, service: string, profile: string, caller = 'mgmt', extra: Record<string, string> = {}) {
  return { ...sb.env, ...qrexecEnv(service, profile, caller), ...extra };
}

/** Fails nightly's verify in the fake Wyng (a damaged volume), so the run leaves a failed report. */
const VERIFY_FAILS = { WYNG_FAKE_FAIL: 'verify-volume:appvms/work/private.img' };

/** The environment names of each Wyng call (recorded by the sandbox's Wyng wrapper). */
function wyngEnvNames(file: string): string[][] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => l.trim().split(' '))
    : [];
}

test('beyond the RPC slots a call answers busy at once; slots free again when calls end', async () => {
  const sb = await buildSandbox(
    rpcSandboxOptions(PROFILES, { WYNG_QUBES_RPC_SLOTS: '2', WYNG_QUBES_RPC_STDIN_TIMEOUT_MS: '20000' }),
  );
  // two slow callers that hold their slots (they never finish sending)
  const slow = [
    spawnService('wyng.List', call(sb, 'wyng.List', 'nightly')),
    spawnService('wyng.List', call(sb, 'wyng.List', 'nightly')),
  ];
  for (const s of slow) s.child.stdin.write('{"qubes":');
  // wait until both hold a slot (probed with flock(1) on the slot files)
  const held = (): boolean => {
    const slots = readdirSync(sb.dir).filter((f) => f.endsWith('.slot'));
    return (
      slots.length === 2 &&
      slots.every((f) => spawnSync('flock', ['-n', '-E', '75', join(sb.dir, f), 'true']).status === 75)
    );
  };
  const deadline = Date.now() + 15_000;
  while (!held()) {
    assert.ok(Date.now() < deadline, 'the slow callers never took their slots');
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = Date.now();
  const third = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), '{}');
  assert.ok(Date.now() - t0 < 5000, 'busy at once, not after the stdin deadline');
  assert.equal(third.code, 9);
  assert.equal(onlyDocument(third.stdout).errors[0]!.kind, 'busy');
  assert.match(onlyDocument(third.stdout).errors[0]!.message, /Too many wyng-qubes calls/);
  const busyLines = sb.auditLines().filter((l) => l.outcome === 'busy');
  assert.ok(busyLines.length >= 1);
  const wyngBefore = sb.wyngCalls().length;
  for (const s of slow) s.child.kill('SIGKILL');
  await Promise.all(slow.map((s) => s.done));
  // the kernel released the killed callers' slots
  const after = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), '{}');
  assert.equal(after.code, 0, after.stderr);
  assert.equal(sb.wyngCalls().length, wyngBefore + 1);
});

test("wyng.Status+PROFILE returns that profile's report only", async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  // verify fails (a damaged volume; no archive at other's place): each profile gets a (failed) report
  const nightly = await runService('wyng.Verify', call(sb, 'wyng.Verify', 'nightly', 'mgmt', VERIFY_FAILS), '{}');
  assert.notEqual(nightly.code, 0);
  assert.notEqual((await runService('wyng.Verify', call(sb, 'wyng.Verify', 'other'), '{}')).code, 0);
  const st = await runService('wyng.Status', call(sb, 'wyng.Status', 'nightly'), '');
  assert.equal(st.code, 0, st.stderr);
  const reports = (onlyDocument(st.stdout).result as { reports: Record<string, unknown> }).reports;
  assert.deepEqual(Object.keys(reports), ['nightly']);
  assert.ok(!st.stdout.includes('other'), st.stdout);
  // the report's errors are redacted for the caller too
  assert.ok(!st.stdout.includes(sb.archiveDir) && !st.stdout.includes(sb.env.WYNG_QUBES_WYNG!), st.stdout);
  const st2 = await runService('wyng.Status', call(sb, 'wyng.Status', 'other'), '');
  assert.deepEqual(Object.keys((onlyDocument(st2.stdout).result as { reports: object }).reports), ['other']);
});

test('operation errors reach a remote caller as generic text with a reference; details in the dom0 log', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  // a hook failing with dom0 details in its argv and output
  const hook = await runService('wyng.Verify', call(sb, 'wyng.Verify', 'hooked'), '{"qubes":["work"]}');
  assert.equal(hook.code, 9);
  const herr = onlyDocument(hook.stdout).errors[0]!;
  assert.equal(herr.kind, 'hook');
  assert.ok(!/secret-vg|\/bin\/sh|hooked'/.test(hook.stdout), hook.stdout);
  const ref = /Reference ([0-9a-f]{8})/.exec(herr.message)?.[1];
  assert.ok(ref !== undefined, herr.message);
  // the dom0 log line under the same reference has the details
  assert.match(hook.stderr, new RegExp(`\\[ref ${ref}\\]: hook: .*profile 'hooked' \\(/bin/sh\\)`));
  assert.equal(sb.auditLines().at(-1)?.ref, ref);

  // Wyng failing (a damaged volume): its stderr and the archive URL stay in dom0
  const verify = await runService(
    'wyng.Verify',
    call(sb, 'wyng.Verify', 'nightly', 'mgmt', VERIFY_FAILS),
    '{"qubes":["work"]}',
  );
  assert.notEqual(verify.code, 0);
  assert.ok(!verify.stdout.includes(sb.archiveDir), verify.stdout);
  assert.ok(!verify.stdout.includes(sb.env.WYNG_QUBES_WYNG!), verify.stdout);
  // …and the other place with no archive at all
  const other = await runService('wyng.Verify', call(sb, 'wyng.Verify', 'other'), '{}');
  assert.notEqual(other.code, 0);
  assert.ok(!other.stdout.includes('/mnt/other-secret-place'), other.stdout);
  assert.match(verify.stdout, /Reference [0-9a-f]{8}/);

  // a refusal about the request itself keeps its message
  const refused = await runService('wyng.List', call(sb, 'wyng.List', 'hooked'), '{}');
  assert.match(onlyDocument(refused.stdout).errors[0]!.message, /does not allow remote List/);
});

test('from dom0 itself, errors are not redacted (dom0 may see its own details)', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const env = { ...sb.env, QREXEC_REMOTE_DOMAIN: 'dom0', QREXEC_SERVICE_ARGUMENT: 'hooked' };
  const { child, done } = spawnService('wyng.Verify', env, { argv1: 'hooked' });
  child.stdin.end('{"qubes":["work"]}');
  const r = await done;
  assert.equal(r.code, 9);
  assert.match(onlyDocument(r.stdout).errors[0]!.message, /hooks\.before command of profile 'hooked'/);
});

test('the privileged part: minimal environment, SUDO_USER audited, dom0 named on stdin refused', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const envNames = join(sb.dir, 'wyng-env-names');
  const leaky = ['LEAKY_CANARY', 'LD_LIBRARY_PATH', 'QREXEC_REMOTE_DOMAIN', 'QREXEC_SERVICE_FULL_NAME'];
  Object.assign(sb.env, {
    WYNG_QUBES_RPC_SUDO: '1',
    WYNG_QUBES_SUDO: SUDO_STUB,
    WYNG_QUBES_RPC_SELF: BUNDLE,
    WYNG_TEST_NODE: process.execPath,
    WYNG_TEST_CAPTURE_ENV_NAMES: envNames,
    // the (stub) sudo keeps everything named here, so only wyng-qubes' own filter can drop the leaky ones
    WYNG_TEST_SUDO_ENV_KEEP: [...Object.keys(sb.env).filter((k) => k.startsWith('WYNG_')), ...leaky]
      .concat(['WYNG_TEST_CAPTURE_ENV_NAMES'])
      .join(' '),
    LEAKY_CANARY: 'from-the-qrexec-daemon',
    LD_LIBRARY_PATH: '/nowhere',
  });
  const r = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), '{}');
  assert.equal(r.code, 0, r.stderr);
  const [wyng] = wyngEnvNames(envNames);
  assert.ok(wyng !== undefined);
  for (const name of leaky) assert.ok(!wyng.includes(name), `${name} reached the privileged part`);
  assert.ok(wyng.includes('WYNG_QUBES_STATE_DIR'));
  const line = sb.auditLines().at(-1)!;
  assert.equal(line.stage, 'privileged');
  assert.equal(typeof line.sudoUser, 'string');
  assert.ok(String(line.sudoUser).length > 0);

  // someone with the sudo rule naming dom0 as the caller on stdin
  const handover = {
    v: 1,
    service: 'wyng.List',
    argument: 'nightly',
    remoteDomain: 'dom0',
    request: Buffer.from('{}').toString('base64'),
  };
  const direct = await runBundle(['rpc', 'privileged'], {
    env: { ...sb.env, SUDO_USER: 'someone' },
    stdin: JSON.stringify(handover),
  });
  assert.equal(direct.code, 9);
  const doc = onlyDocument(direct.stdout);
  assert.equal(doc.errors[0]!.kind, 'forbidden');
  assert.match(doc.errors[0]!.message, /does not serve 'dom0'/);
  const refusal = sb.auditLines().at(-1)!;
  assert.equal(refusal.sudoUser, 'someone');
  assert.equal(refusal.outcome, 'refused');
  assert.equal(sb.wyngCalls().length, 1, 'no Wyng call for the refused hand-over');
});
