// Rollback detection and plan binding over qrexec (issue 14): a wyng.Restore from a session whose
// metadata volume was replaced behind dom0's back is refused for that qube (RPC runs are unattended);
// a caller cannot approve it (no such request field), only the profile's restore.allow_rollback can;
// a request's expectPlan binds the restore to an earlier dry run's digest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replaceSessionVolume } from '../helpers/archive-tamper.ts';
import { FAKE_WYNG, FAKE_WYNG_LOOSE } from '../helpers/cli.ts';
import { onlyDocument, qrexecEnv, runService } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { makeTgz } from '../helpers/tarball.ts';

function writeProfile(sim: Sandbox, restore: string): void {
  const etc = sim.env.WYNG_QUBES_CONFIG_DIR!;
  mkdirSync(etc, { recursive: true });
  writeFileSync(
    join(etc, 'profiles.yaml'),
    `profiles:
  nightly:
    dest: ${sim.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [Backup, Restore]
      restore_qubes: [work]
      callers: [mgmt]
    # the sandbox archive is unencrypted (issue 14: a remote restore needs the profile's trust)
    restore:
      trust_unauthenticated: true
${restore}`,
    { mode: 0o600 },
  );
}

test('wyng.Restore: swapped metadata refused unless the profile allows rollback; expectPlan binds', async () => {
  const sim = await buildSandbox();
  try {
    writeProfile(sim, '');
    const wyng = join(sim.dir, 'wyng');
    const loose = Object.entries(FAKE_WYNG_LOOSE)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    writeFileSync(wyng, `#!/bin/sh\nexec env ${loose} "${process.execPath}" "${FAKE_WYNG}" "$@"\n`, {
      mode: 0o755,
    });
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TZ: 'UTC',
      ...sim.env,
      WYNG_QUBES_WYNG: wyng,
      WYNG_QUBES_RPC_SUDO: '0',
    };
    const created = await sim.run(['--dest', sim.archiveUrl, '-w', 'encrypt=off', '--json', 'create']);
    assert.equal(created.code, 0, created.stderr);
    const rpc = async (service: string, body: unknown) => {
      sim.syncQubesXml();
      const r = await runService(service, { ...env, ...qrexecEnv(service, 'nightly', 'mgmt') }, JSON.stringify(body));
      return { ...r, doc: onlyDocument(r.stdout) };
    };

    const backup = await rpc('wyng.Backup', {});
    assert.equal(backup.code, 0, backup.stderr);
    const session = (backup.doc.result as { session: string }).session;

    // expectPlan: the dry run's digest restores; any other digest is refused, nothing written
    const plan = await rpc('wyng.Restore', { dryRun: true, qubes: ['work'] });
    assert.equal(plan.code, 0, plan.stderr);
    const digest = (plan.doc.result as { planDigest: string }).planDigest;
    assert.match(digest, /^[0-9a-f]{64}$/);
    const apiBefore = sim.qubesd.callLog.length;
    const other = await rpc('wyng.Restore', { qubes: ['work'], expectPlan: 'f'.repeat(64) });
    assert.equal(other.code, 9, other.stderr);
    assert.deepEqual(
      sim.qubesd.callLog.slice(apiBefore).filter((c) => c.writes),
      [],
      'no Admin API write',
    );
    const bound = await rpc('wyng.Restore', { qubes: ['work'], expectPlan: digest });
    assert.equal(bound.code, 0, bound.stderr);

    // the storage side replaces the session's metadata volume
    await replaceSessionVolume(
      sim.archiveUrl,
      'wyng-qubes-metadata',
      session,
      makeTgz([{ name: 'qubes.xml', data: sim.qubesd.dumpQubesXml() }]),
    );
    const refused = await rpc('wyng.Restore', { qubes: ['work'] });
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.doc.errors[0]?.qube, 'work');
    // the caller gets a generic message with a reference (details only in dom0's log); the
    // result says why work was not restored
    const why = (refused.doc.result as { rollback?: { findings: Array<{ kind: string }> } } | null)?.rollback;
    assert.deepEqual(
      why?.findings.map((f) => f.kind),
      ['metadata-differs'],
    );

    const asked = await rpc('wyng.Restore', { qubes: ['work'], allowRollback: true });
    assert.equal(asked.code, 9, 'a caller cannot approve a rollback');
    assert.equal(asked.doc.errors[0]?.kind, 'input');

    writeProfile(sim, '      allow_rollback: true\n');
    const allowed = await rpc('wyng.Restore', { qubes: ['work'] });
    assert.equal(allowed.code, 0, allowed.stderr);
    const rb = (allowed.doc.result as { rollback: { findings: Array<{ kind: string }> } }).rollback;
    assert.deepEqual(
      rb.findings.map((f) => f.kind),
      ['metadata-differs'],
    );
  } finally {
    await sim.stop();
  }
});
