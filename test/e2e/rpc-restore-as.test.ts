// wyng.Restore with "as" (issue 19 §1) through the service scripts against the simulator: a
// profile without `remote.restore_as: true` refuses it before Wyng or qubesd is touched; one
// with it restores the copy under the new name and leaves the original alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAKE_WYNG, FAKE_WYNG_LOOSE } from '../helpers/cli.ts';
import { installPostStubs } from '../helpers/post-stubs.ts';
import { onlyDocument, qrexecEnv, runService } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

function setup(sim: Sandbox): Record<string, string | undefined> {
  const etc = sim.env.WYNG_QUBES_CONFIG_DIR!;
  mkdirSync(etc, { recursive: true });
  const profile = (name: string, restoreAs: boolean): string => `  ${name}:
    dest: ${sim.archiveUrl}
    qubes: [work]
    remote:
      operations: [Backup, Restore]
      restore_qubes: [work]
      callers: [mgmt]
${restoreAs ? '      restore_as: true\n' : ''}    restore:
      trust_unauthenticated: true
      allow_reach: [all]
`;
  writeFileSync(join(etc, 'profiles.yaml'), `profiles:\n${profile('plain', false)}${profile('copies', true)}`, {
    mode: 0o600,
  });
  const wyng = join(sim.dir, 'wyng');
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
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
}

test(
  'wyng.Restore "as": refused unless the profile allows it; allowed, it restores a copy',
  { timeout: 120_000 },
  async () => {
    const sim = await buildSandbox();
    try {
      const env = { ...setup(sim), ...installPostStubs(sim.dir).env };
      const created = await sim.run(['--dest', sim.archiveUrl, '-w', 'encrypt=off', '--json', 'create']);
      assert.equal(created.code, 0, created.stderr);
      const rpc = async (service: string, profile: string, body: string) => {
        sim.syncQubesXml();
        return runService(service, { ...env, ...qrexecEnv(service, profile, 'mgmt') }, body);
      };
      const backup = await rpc('wyng.Backup', 'plain', '{}');
      assert.equal(backup.code, 0, backup.stderr);

      const wyngBefore = wyngCalls(sim);
      const apiBefore = sim.qubesd.callLog.length;
      for (const [profile, body, kind] of [
        ['plain', '{"qubes":["work"],"as":"work-copy"}', 'forbidden'],
        ['copies', '{"as":"work-copy"}', 'input'],
        ['copies', '{"qubes":["work"],"as":"bad name"}', 'input'],
      ] as const) {
        const r = await rpc('wyng.Restore', profile, body);
        assert.equal(r.code, 9, `${profile} ${body}: ${r.stderr}`);
        assert.equal(onlyDocument(r.stdout).errors[0]!.kind, kind, `${profile} ${body}`);
      }
      assert.equal(wyngCalls(sim), wyngBefore, 'no Wyng call');
      assert.equal(sim.qubesd.callLog.length, apiBefore, 'no Admin API call');

      const mark = sim.qubesd.callLog.length;
      const r = await rpc('wyng.Restore', 'copies', '{"qubes":["work"],"as":"work-copy"}');
      assert.equal(r.code, 0, r.stderr);
      const doc = onlyDocument(r.stdout).result as { renames: Record<string, string>; qubes: Array<{ name: string }> };
      assert.deepEqual(doc.renames, { work: 'work-copy' });
      assert.deepEqual(
        doc.qubes.map((q) => q.name),
        ['work-copy'],
      );
      assert.deepEqual(
        sim.qubesd.callLog.slice(mark).filter((c) => c.writes && c.dest === 'work'),
        [],
        'no write to work',
      );
      assert.deepEqual(
        readFileSync(sim.qubesd.volumePath('work-copy', 'private')!),
        readFileSync(sim.qubesd.volumePath('work', 'private')!),
      );
    } finally {
      await sim.stop();
    }
  },
);
