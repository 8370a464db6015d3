import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE } from '../helpers/cli.ts';
import { onlyDocument, qrexecEnv, rpcSandboxOptions, runService, spawnService, SUDO_STUB } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

/**
 * The installed service scripts (rpc/services/wyng.*) run as qrexec runs them — the qrexec
 * environment, the request on stdin, no TTY — with the built bundle in place of
 * /usr/bin/wyng-qubes and the fake Wyng with a small archive (rpcSandboxOptions).
 */

const PROFILES = (sb: Sandbox): string => `profiles:
  nightly:
    dest: ${sb.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [Backup, Restore, Verify, List, Prune, Status]
      restore_qubes: [work]
      callers: [mgmt]
  listonly:
    dest: file:/mnt/other
    remote: { operations: [List] }
  hidden:
    dest: file:/mnt/hidden
    remote: { operations: [List] }
`;

function call(sb: Sandbox, service: string, profile: string, caller = 'mgmt', extra: Record<string, string> = {}) {
  return { ...sb.env, ...qrexecEnv(service, profile, caller), ...extra };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(20);
  }
}

function reports(sb: Sandbox): Array<Record<string, unknown>> {
  const dir = join(sb.stateDir, 'reports');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>);
}

test('wyng.List end to end: one JSON document, exit 0, an audit line', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const r = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), '{"qubes":["work"]}');
  assert.equal(r.code, 0, r.stderr);
  const doc = onlyDocument(r.stdout);
  assert.equal(doc.ok, true);
  assert.equal(doc.command, 'list');
  const result = doc.result as { archive: { url: string | null }; qubes: Record<string, unknown> };
  assert.equal(result.archive.url, null, 'the archive URL is a dom0 detail');
  assert.ok(!r.stdout.includes(sb.archiveDir));
  assert.deepEqual(Object.keys(result.qubes), ['work']);
  assert.deepEqual(
    sb.wyngCalls().map((c) => c.argv),
    [[`--dest=${sb.archiveUrl}`, '-u', '--json', 'list']],
  );
  const [line] = sb.auditLines();
  assert.equal(line?.remoteDomain, 'mgmt');
  assert.equal(line?.service, 'wyng.List');
  assert.equal(line?.profile, 'nightly');
  assert.equal(line?.outcome, 'ok');
  assert.equal(line?.exitCode, 0);
  assert.match(String(line?.requestSha256), /^[0-9a-f]{64}$/);
  assert.equal(typeof line?.durationMs, 'number');
  assert.match(String(line?.time), /^\d{4}-\d\d-\d\dT/);
});

test('the audit digest is the sha256 of the exact request bytes', async () => {
  const { createHash } = await import('node:crypto');
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const body = '{ "qubes" : [ "personal" ] }\n';
  const r = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), body);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sb.auditLines()[0]?.requestSha256, createHash('sha256').update(body).digest('hex'));
});

test('Backup and Restore outside the profile are refused with zero Wyng calls', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const cases: Array<[string, string, string, string, RegExp]> = [
    ['wyng.Backup', 'nightly', 'mgmt', '{"qubes":["vault"]}', /Not in profile 'nightly': vault/],
    ['wyng.Backup', 'nightly', 'mgmt', '{"session":"20250101-000000"}', /not accepted by wyng\.Backup/],
    ['wyng.Backup', 'listonly', 'mgmt', '{}', /does not allow remote Backup/],
    ['wyng.Backup', 'nightly', 'work', '{}', /does not accept calls from qube 'work'/],
    ['wyng.Restore', 'nightly', 'mgmt', '{"qubes":["personal"]}', /does not allow restoring: personal/],
    ['wyng.Restore', 'nightly', 'mgmt', '{"qubes":["work"],"dest":"file:/evil"}', /Unrecognized key/],
    ['wyng.Restore', 'listonly', 'mgmt', '{}', /does not allow remote Restore/],
    ['wyng.Restore', 'nightly', 'untrusted', '{"qubes":["work"]}', /does not accept calls/],
    ['wyng.Prune', 'nightly', 'mgmt', '{"dryRun":true}', /not accepted by wyng\.Prune/],
  ];
  for (const [service, profile, caller, body, re] of cases) {
    const r = await runService(service, call(sb, service, profile, caller), body);
    const doc = onlyDocument(r.stdout);
    assert.equal(r.code, 9, `${service} ${body}`);
    assert.equal(doc.ok, false);
    assert.equal(doc.exitCode, 9);
    assert.match(doc.errors[0]!.message, re);
  }
  assert.deepEqual(sb.wyngCalls(), [], 'Wyng was never called');
  assert.deepEqual(reports(sb), [], 'nothing ran, nothing reported');
  const lines = sb.auditLines();
  assert.equal(lines.length, cases.length);
  assert.ok(lines.every((l) => l.outcome === 'refused' && l.exitCode === 9));
});

test('unknown profile, bad argument, unknown service, missing caller: refused, nothing runs', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const unknown = await runService('wyng.List', call(sb, 'wyng.List', 'weekly'), '{}');
  assert.equal(unknown.code, 9);
  assert.match(onlyDocument(unknown.stdout).errors[0]!.message, /Unknown profile 'weekly'/);
  // qrexec rewrote "night/ly" to "night_ly": valid grammar, but no such profile.
  const rewritten = await runService('wyng.List', call(sb, 'wyng.List', 'night_ly'), '{}');
  assert.match(onlyDocument(rewritten.stdout).errors[0]!.message, /Unknown profile 'night_ly'/);
  const upper = await runService('wyng.List', call(sb, 'wyng.List', 'Nightly'), '{}');
  assert.match(onlyDocument(upper.stdout).errors[0]!.message, /Invalid profile name 'Nightly'/);
  const none = await runService('wyng.List', call(sb, 'wyng.List', ''), '{}');
  assert.match(onlyDocument(none.stdout).errors[0]!.message, /needs a profile name/);
  const wrong = await runService(
    'wyng.List',
    { ...call(sb, 'wyng.List', 'nightly'), QREXEC_SERVICE_FULL_NAME: 'wyng.Restore+nightly' },
    '{}',
  );
  assert.match(onlyDocument(wrong.stdout).errors[0]!.message, /reached the entry point of wyng\.List/);
  const noCaller = await runService(
    'wyng.List',
    { ...call(sb, 'wyng.List', 'nightly'), QREXEC_REMOTE_DOMAIN: undefined },
    '{}',
  );
  assert.match(onlyDocument(noCaller.stdout).errors[0]!.message, /QREXEC_REMOTE_DOMAIN is not set/);
  for (const r of [unknown, rewritten, upper, none, wrong, noCaller]) {
    assert.equal(r.code, 9);
    assert.ok(!r.stdout.includes(sb.configDir), 'no dom0 path in the reply');
  }
  assert.deepEqual(sb.wyngCalls(), []);
  assert.equal(sb.auditLines().length, 6);
});

test('a broken profile refuses its calls, the details stay in the dom0 log; other profiles still work', async () => {
  const sb = await buildSandbox(
    rpcSandboxOptions((sb) => `${PROFILES(sb)}  broken:\n    dest: file:/x\n    typo: 1\n`),
  );
  const fine = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), '{}');
  assert.equal(fine.code, 0, fine.stderr);
  const calls = sb.wyngCalls().length;
  assert.ok(calls > 0);
  const r = await runService('wyng.List', call(sb, 'wyng.List', 'broken'), '{}');
  assert.equal(r.code, 9);
  const doc = onlyDocument(r.stdout);
  assert.equal(doc.errors[0]!.kind, 'config');
  assert.match(doc.errors[0]!.message, /profiles file in dom0 is invalid/);
  assert.ok(!r.stdout.includes('typo'));
  assert.match(r.stderr, /profile 'broken': field 'typo': unknown field/);
  assert.equal(sb.wyngCalls().length, calls, 'nothing ran for the broken profile');
});

test('bad JSON, oversized stdin and slow stdin: one JSON error each, nothing runs', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES, { WYNG_QUBES_RPC_STDIN_TIMEOUT_MS: '400' }));
  const env = call(sb, 'wyng.List', 'nightly');
  const bad = await runService('wyng.List', env, '{"qubes": [work]}');
  assert.equal(bad.code, 9);
  assert.match(onlyDocument(bad.stdout).errors[0]!.message, /not valid JSON/);

  const big = await runService('wyng.List', env, `{"qubes":["work"],"pad":"${'x'.repeat(70 * 1024)}"}`);
  assert.equal(big.code, 9);
  assert.match(onlyDocument(big.stdout).errors[0]!.message, /larger than 65536 bytes/);

  // A caller that sends a few bytes and never closes its end.
  const started = Date.now();
  const { child, done } = spawnService('wyng.List', env);
  child.stdin.write('{"qubes":');
  const slow = await done;
  child.stdin.destroy();
  assert.equal(slow.code, 9);
  assert.match(onlyDocument(slow.stdout).errors[0]!.message, /not received within 400 ms/);
  assert.ok(Date.now() - started < 5000);

  assert.deepEqual(sb.wyngCalls(), []);
  assert.deepEqual(
    sb.auditLines().map((l) => l.outcome),
    ['refused', 'refused', 'refused'],
  );
});

test('two concurrent calls: one runs, the other answers a JSON busy error after a bounded wait', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES, { WYNG_QUBES_LOCK_TIMEOUT_MS: '300' }));
  const hold = join(sb.dir, 'release');
  const started = `${hold}.held`; // the fake Wyng holds the list (lock taken) until `hold` exists
  const first = spawnService('wyng.List', {
    ...call(sb, 'wyng.List', 'nightly'),
    CAPTURE_FAIL_LIST: `hold:${hold}`,
  });
  first.child.stdin.end('{}');
  await waitFor(() => existsSync(started));
  const t0 = Date.now();
  const second = await runService('wyng.List', call(sb, 'wyng.List', 'listonly'), '{}');
  const waited = Date.now() - t0;
  writeFileSync(hold, '');
  const firstRun = await first.done;
  assert.equal(firstRun.code, 0, firstRun.stderr);
  assert.equal(onlyDocument(firstRun.stdout).ok, true);
  assert.equal(second.code, 9);
  const doc = onlyDocument(second.stdout);
  assert.equal(doc.errors[0]!.kind, 'busy');
  assert.match(doc.errors[0]!.message, /Another wyng-qubes job is running/);
  assert.ok(waited >= 300 && waited < 20_000, `bounded wait (${waited} ms)`);
  assert.equal(sb.wyngCalls().length, 1, 'the busy call never reached Wyng');
  const outcomes = sb
    .auditLines()
    .map((l) => `${String(l.profile)}:${String(l.outcome)}`)
    .sort();
  assert.deepEqual(outcomes, ['listonly:busy', 'nightly:ok']);
});

test('wyng.Status: the running job (the lock file) while a job runs, none otherwise', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const idle = await runService('wyng.Status', call(sb, 'wyng.Status', 'nightly'), '');
  assert.equal(idle.code, 0, idle.stderr);
  assert.deepEqual(onlyDocument(idle.stdout).result, { running: null, reports: {} });

  const hold = join(sb.dir, 'release');
  const started = `${hold}.held`; // the fake Wyng holds the list (lock taken) until `hold` exists
  const job = spawnService('wyng.List', {
    ...call(sb, 'wyng.List', 'nightly'),
    CAPTURE_FAIL_LIST: `hold:${hold}`,
  });
  job.child.stdin.end('{}');
  await waitFor(() => existsSync(started));
  const busy = await runService('wyng.Status', call(sb, 'wyng.Status', 'nightly'), '{}');
  writeFileSync(hold, '');
  const running = (onlyDocument(busy.stdout).result as { running: { job: string; pid: number; since: string } | null })
    .running;
  assert.ok(running !== null, busy.stdout);
  assert.match(running.job, /^list /);
  assert.equal(typeof running.pid, 'number');
  const lock = JSON.parse(readFileSync(join(sb.stateDir, 'wyng-qubes.lock'), 'utf8')) as { pid: number; job: string };
  assert.equal(running.pid, lock.pid);
  assert.equal(running.job, lock.job);
  assert.equal((await job.done).code, 0);
  const after = await runService('wyng.Status', call(sb, 'wyng.Status', 'nightly'), '');
  assert.equal((onlyDocument(after.stdout).result as { running: unknown }).running, null);
  const notAllowed = await runService('wyng.Status', call(sb, 'wyng.Status', 'listonly'), '');
  assert.equal(notAllowed.code, 9);
  const withFields = await runService('wyng.Status', call(sb, 'wyng.Status', 'nightly'), '{"qubes":["work"]}');
  assert.equal(withFields.code, 9);
});

test('a caller that disconnects mid-job: the job still finishes (and is audited)', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const hold = join(sb.dir, 'release');
  const started = `${hold}.held`; // the fake Wyng holds the list (lock taken) until `hold` exists
  const { child, done } = spawnService('wyng.List', {
    ...call(sb, 'wyng.List', 'nightly'),
    CAPTURE_FAIL_LIST: `hold:${hold}`,
  });
  child.stdin.end('{"qubes":["personal"]}');
  await waitFor(() => existsSync(started));
  // The calling qube goes away: qrexec closes the service's stdout (and stdin).
  child.stdout.destroy();
  child.stderr.destroy();
  await sleep(200);
  writeFileSync(hold, '');
  const r = await done;
  assert.equal(r.code, 0, 'the service still ends with the job status');
  assert.equal(sb.auditLines()[0]?.outcome, 'ok');
  assert.equal(sb.wyngCalls().length, 1);
  assert.ok(!existsSync(join(sb.stateDir, 'wyng-qubes.lock')), 'lock released');
});

test('from dom0 itself: the service program run directly (design.md "qrexec services")', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const env = { ...sb.env, QREXEC_REMOTE_DOMAIN: 'dom0', QREXEC_SERVICE_ARGUMENT: 'nightly' };
  const { child, done } = spawnService('wyng.List', env, { argv1: 'nightly' });
  child.stdin.end('');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(onlyDocument(r.stdout).command, 'list');
  assert.equal(sb.auditLines()[0]?.remoteDomain, 'dom0');
});

test('privileged part through sudo -n: fixed argv, validated again, audited by the privileged part', async () => {
  // sudo resets the environment: the sandbox's locations reach the privileged part only because
  // the stub is told to keep them (as `Defaults env_keep += "…"` would); the passphrase does not.
  const keep = [
    'WYNG_QUBES_CONFIG_DIR',
    'WYNG_QUBES_STATE_DIR',
    'WYNG_QUBES_LOCK_DIR',
    'WYNG_QUBES_WYNG',
    'WYNG_QUBES_LOCK_TIMEOUT_MS',
  ];
  const fake = ['WYNG_FAKE_LOCK', 'WYNG_FAKE_LOG', 'WYNG_FAKE_HOME', 'WYNG_TEST_CAPTURE_ENV_NAMES'];
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const sudoLog = join(sb.dir, 'sudo.log');
  const envNames = join(sb.dir, 'wyng-env-names');
  Object.assign(sb.env, {
    WYNG_QUBES_RPC_SUDO: '1',
    WYNG_QUBES_SUDO: SUDO_STUB,
    WYNG_QUBES_RPC_SELF: BUNDLE,
    WYNG_TEST_NODE: process.execPath,
    WYNG_TEST_SUDO_LOG: sudoLog,
    WYNG_TEST_SUDO_ENV_KEEP: [...keep, ...fake].join(' '),
    WYNG_TEST_CAPTURE_ENV_NAMES: envNames,
  });
  const reset = await runService(
    'wyng.List',
    call(sb, 'wyng.List', 'nightly', 'mgmt', { WYNG_TEST_SUDO_ENV_KEEP: '' }),
    '{}',
  );
  // without env_keep the privileged part reads the system config (/etc/wyng-qubes), which has no profile
  assert.equal(reset.code, 9);
  assert.deepEqual(onlyDocument(reset.stdout).errors, [{ kind: 'input', message: "Unknown profile 'nightly'." }]);
  assert.deepEqual(
    sb.auditLines(),
    [],
    'nothing audited in the sandbox: the privileged part used the system locations',
  );
  writeFileSync(sudoLog, '');
  const r = await runService(
    'wyng.List',
    call(sb, 'wyng.List', 'nightly', 'mgmt', { WYNG_QUBES_PASSPHRASE: 'not for the privileged part' }),
    '{"qubes":["work"]}',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(onlyDocument(r.stdout).ok, true);
  assert.deepEqual(readFileSync(sudoLog, 'utf8').trim().split('\n'), [`-n -- ${BUNDLE} rpc privileged`]);
  assert.equal(sb.wyngCalls().length, 1);
  const names = readFileSync(envNames, 'utf8').trim().split(' ');
  assert.ok(names.includes('SUDO_COMMAND'), 'Wyng ran under the (stub) sudo');
  assert.ok(!names.includes('WYNG_QUBES_PASSPHRASE'), 'sudo removed the caller environment');
  const lines = sb.auditLines();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.stage, 'privileged');
  assert.equal(lines[0]?.outcome, 'ok');

  // Refusals found by the entry point never start sudo.
  const refused = await runService('wyng.List', call(sb, 'wyng.List', 'Bad'), '{}');
  assert.equal(refused.code, 9);
  assert.equal(readFileSync(sudoLog, 'utf8').trim().split('\n').length, 1);
  // Refusals of the privileged part come back as its JSON.
  const forbidden = await runService('wyng.Restore', call(sb, 'wyng.Restore', 'nightly'), '{"qubes":["personal"]}');
  assert.equal(forbidden.code, 9);
  assert.equal(onlyDocument(forbidden.stdout).errors[0]!.kind, 'forbidden');
  assert.equal(sb.auditLines().at(-1)?.stage, 'privileged');

  // The privileged part validates its own input again (here: a hand-over naming "../x").
  const { runBundle } = await import('../helpers/cli.ts');
  const handover = {
    v: 1,
    service: 'wyng.List',
    argument: '../x',
    remoteDomain: 'mgmt',
    request: Buffer.from('{}').toString('base64'),
  };
  const direct = await runBundle(['rpc', 'privileged'], { env: sb.env, stdin: JSON.stringify(handover) });
  assert.equal(direct.code, 9);
  assert.match(onlyDocument(direct.stdout).errors[0]!.message, /Invalid profile name/);
  const junk = await runBundle(['rpc', 'privileged'], { env: sb.env, stdin: '{"v":1,"service":"wyng.List"}' });
  assert.equal(junk.code, 9);
  assert.equal(sb.auditLines().at(-1)?.stage, 'privileged');
  assert.equal(sb.wyngCalls().length, 1);
});

test('sudo refusing the privileged part (no sudoers rule) is a clear JSON config error', async () => {
  const sb = await buildSandbox(
    rpcSandboxOptions(PROFILES, {
      WYNG_QUBES_RPC_SUDO: '1',
      WYNG_QUBES_SUDO: '/bin/false',
      WYNG_QUBES_RPC_SELF: BUNDLE,
    }),
  );
  const r = await runService('wyng.List', call(sb, 'wyng.List', 'nightly'), '{}');
  assert.equal(r.code, 9);
  const doc = onlyDocument(r.stdout);
  assert.equal(doc.errors[0]!.kind, 'config');
  assert.match(doc.errors[0]!.message, /not set up for wyng-qubes RPC/);
  assert.match(r.stderr, /refused to run/);
  assert.equal(sb.auditLines()[0]?.outcome, 'error');
  const missing = await buildSandbox(
    rpcSandboxOptions(PROFILES, { WYNG_QUBES_RPC_SUDO: '1', WYNG_QUBES_SUDO: join(sb.dir, 'no-sudo') }),
  );
  const r2 = await runService('wyng.List', call(missing, 'wyng.List', 'nightly'), '{}');
  assert.equal(r2.code, 9);
  assert.match(onlyDocument(r2.stdout).errors[0]!.message, /sudo is missing/);
});

test('rpc refuses --json and extra arguments (the service prints its own document)', async () => {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  const { runInProcess } = await import('../helpers/cli.ts');
  const r = await runInProcess(['--json', 'rpc', 'wyng.List'], { env: call(sb, 'wyng.List', 'nightly') });
  assert.equal(r.code, 9);
  assert.equal(onlyDocument(r.stdout).errors[0]!.kind, 'option');
  const r2 = await runInProcess(['rpc', 'a', 'b'], { env: call(sb, 'wyng.List', 'nightly') });
  assert.equal(r2.code, 9);
  assert.deepEqual(sb.wyngCalls(), []);
});
