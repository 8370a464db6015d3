import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import { FAKE_WYNG, FAKE_WYNG_LOOSE } from '../helpers/cli.ts';
import { installPostStubs } from '../helpers/post-stubs.ts';
import { onlyDocument, qrexecEnv, runService } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

/**
 * wyng.Backup and wyng.Restore end to end: the service scripts run as qrexec would, against
 * the simulator (fake qubesd seeded with the conformance qubes.xml + the fake Wyng). Requests
 * outside the profile are refused with zero Wyng calls and zero Admin API calls.
 */

function setup(sim: Sandbox): Record<string, string | undefined> {
  const etc = sim.env.WYNG_QUBES_CONFIG_DIR!;
  mkdirSync(etc, { recursive: true });
  writeFileSync(
    join(etc, 'profiles.yaml'),
    `profiles:
  nightly:
    dest: ${sim.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [Backup, Restore, Status]
      restore_qubes: [work]
      callers: [mgmt]
    restore:
      trust_unauthenticated: true
`,
    { mode: 0o600 },
  );
  // The services reset PATH to the system directories: run the fake with this test's node.
  const wyng = join(sim.dir, 'wyng');
  // with the fake's loosening switches baked in: they must not depend on what the services pass on
  const LOOSE = Object.entries(FAKE_WYNG_LOOSE)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  writeFileSync(wyng, `#!/bin/sh\nexec env ${LOOSE} "${process.execPath}" "${FAKE_WYNG}" "$@"\n`, { mode: 0o755 });
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: 'UTC',
    ...sim.env,
    WYNG_QUBES_WYNG: wyng,
    WYNG_QUBES_RPC_SUDO: '0',
  };
}

function wyngCalls(sim: Sandbox): number {
  const log = sim.env.WYNG_FAKE_LOG!;
  return existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '').length
    : 0;
}

function auditLines(sim: Sandbox): Array<Record<string, unknown>> {
  const path = join(sim.env.WYNG_QUBES_STATE_DIR!, 'audit.log');
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test(
  'wyng.Backup and wyng.Restore through the services, refusals touching neither Wyng nor qubesd',
  { timeout: 120_000 },
  async () => {
    const sim = await buildSandbox();
    try {
      // A remote Restore runs the default post step: stubs stand in for sudo and the qvm-* programs.
      const post = installPostStubs(sim.dir);
      const env = { ...setup(sim), ...post.env };
      const created = await sim.run(['--dest', sim.archiveUrl, '-w', 'encrypt=off', '--json', 'create']);
      assert.equal(created.code, 0, created.stderr);
      const rpc = async (service: string, body: string, caller = 'mgmt') => {
        sim.syncQubesXml();
        return runService(service, { ...env, ...qrexecEnv(service, 'nightly', caller) }, body);
      };

      // Refusals first: nothing may reach Wyng or qubesd.
      const wyngBefore = wyngCalls(sim);
      const apiBefore = sim.qubesd.callLog.length;
      const refusals: Array<[string, string, string, string]> = [
        ['wyng.Backup', '{"qubes":["vault"]}', 'mgmt', 'forbidden'],
        ['wyng.Backup', '{"qubes":["work"],"pool":"x"}', 'mgmt', 'input'],
        ['wyng.Backup', '{}', 'untrusted', 'forbidden'],
        ['wyng.Restore', '{"qubes":["personal"]}', 'mgmt', 'forbidden'],
        ['wyng.Restore', '{"qubes":["work"]}', 'work', 'forbidden'],
        ['wyng.Restore', '{"qubes":["work"],"session":"latest"}', 'mgmt', 'input'],
        ['wyng.Restore', '{"exclude":["work"]}', 'mgmt', 'input'],
      ];
      for (const [service, body, caller, kind] of refusals) {
        const r = await rpc(service, body, caller);
        assert.equal(r.code, 9, `${service} ${body}`);
        assert.equal(onlyDocument(r.stdout).errors[0]!.kind, kind, `${service} ${body}`);
      }
      assert.equal(wyngCalls(sim), wyngBefore, 'no Wyng call');
      assert.equal(sim.qubesd.callLog.length, apiBefore, 'no Admin API call');

      const backup = await rpc('wyng.Backup', '{}');
      assert.equal(backup.code, 0, backup.stderr);
      const b = onlyDocument(backup.stdout);
      assert.equal(b.command, 'backup');
      const result = b.result as { session: string; qubes: Array<{ name: string; status: string }> };
      assert.match(result.session, /^\d{8}-\d{6}$/);
      assert.deepEqual(
        result.qubes.map((q) => [q.name, q.status]),
        [
          ['personal', 'ok'],
          ['work', 'ok'],
        ],
      );

      const plan = await rpc('wyng.Restore', JSON.stringify({ dryRun: true, session: result.session }));
      assert.equal(plan.code, 0, plan.stderr);
      const p = onlyDocument(plan.stdout).result as { plan: { qubes: Array<{ name: string }> } };
      assert.deepEqual(
        p.plan.qubes.map((q) => q.name),
        ['work'],
        "Restore without names: the profile's restore_qubes only",
      );

      // The post step is for qubes whose data or menu settings the restore changes: the label
      // of work differs from the backup.
      const admin = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 10_000 }));
      await admin.setProperty('work', 'label', 'purple');
      const restore = await rpc('wyng.Restore', '{}');
      assert.equal(restore.code, 0, restore.stderr);
      const rr = onlyDocument(restore.stdout).result as {
        session: string;
        qubes: Array<{ name: string; status: string }>;
      };
      assert.equal(rr.session, result.session);
      assert.deepEqual(
        rr.qubes.map((q) => q.name),
        ['work'],
      );
      assert.deepEqual(
        post.calls().map((c) => [c.prog, ...c.args]),
        [
          ['sudo', '-u', '#1000', 'qvm-appmenus', '--update', 'work'],
          ['qvm-appmenus', '--update', 'work'],
        ],
        'the post step of the restored app qube',
      );

      const status = await rpc('wyng.Status', '');
      const st = onlyDocument(status.stdout).result as { reports: Record<string, { operation: string; ok: boolean }> };
      assert.match(st.reports.nightly!.operation, /^restore$/i);
      assert.equal(st.reports.nightly!.ok, true);

      const reports = readdirSync(join(sim.env.WYNG_QUBES_STATE_DIR!, 'reports')).filter((f) => f.endsWith('.json'));
      assert.ok(reports.length >= 3, `backup, plan and restore reported (${reports.join(', ')})`);
      const outcomes = auditLines(sim).map((l) => `${String(l.service)}:${String(l.outcome)}`);
      assert.deepEqual(outcomes, [
        ...refusals.map(([s]) => `${s}:refused`),
        'wyng.Backup:ok',
        'wyng.Restore:ok',
        'wyng.Restore:ok',
        'wyng.Status:ok',
      ]);
    } finally {
      await sim.stop();
    }
  },
);
