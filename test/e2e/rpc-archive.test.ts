import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onlyDocument, qrexecEnv, rpcSandboxOptions, runService, spawnService } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { buildMetadataTar } from '../../src/adapters/metadata/build.ts';
import { wyngArgv } from '../../src/adapters/wyng/argv.ts';

/**
 * wyng.List, wyng.Verify, wyng.Prune and wyng.Status end to end against the fake Wyng: an
 * archive with two sessions of two qubes (and the settings metadata), the service scripts run
 * as qrexec runs them. (Backup and Restore go through the same path: `runPlan` in
 * src/rpc/service.ts; their end-to-end cases need only the library call.)
 */

const QUBES_XML = [
  '<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><pools/><properties/>',
  '<domains>\n',
  '<domain id="domain-0" class="AdminVM"><properties><property name="label">label-1</property>',
  '</properties><features/><tags/></domain>\n',
  '<domain id="domain-1" class="AppVM"><properties><property name="name">work</property>',
  '<property name="qid">1</property><property name="label">label-1</property></properties><features/>',
  '<tags/></domain>\n',
  '<domain id="domain-2" class="AppVM"><properties><property name="name">personal</property>',
  '<property name="qid">2</property><property name="label">label-1</property></properties><features/>',
  '<tags/></domain>\n',
  '</domains></qubes>',
].join('');

interface Archive {
  sb: Sandbox;
  sessions: [string, string];
}

async function archive(): Promise<Archive> {
  const profiles = (sb: Sandbox): string => `profiles:
  nightly:
    dest: ${sb.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [Backup, Restore, Verify, List, Prune, Status]
      restore_qubes: [work]
      callers: [mgmt]
  watch:
    dest: ${sb.archiveUrl}
    remote: { operations: [Verify, Status] }
  other:
    dest: ${sb.archiveUrl}
    remote: { operations: [Verify] }
`;
  // the sandbox without the RPC seed: this archive is made below, with its own qubes.xml
  const { archive: _seeded, ...opts } = rpcSandboxOptions(profiles);
  const sb = await buildSandbox(opts);
  const dir = sb.dir;
  const wyng = sb.env.WYNG_QUBES_WYNG!;
  const env = { ...sb.env, WYNG_FAKE_LOG: join(dir, 'setup.log') } as NodeJS.ProcessEnv;
  const dest = sb.archiveUrl;
  execFileSync(wyng, [`--dest=${dest}`, '-u', '--encrypt=off', 'arch-init'], { env, stdio: 'pipe' });
  const pool = join(dir, 'pool');
  for (const q of ['work', 'personal']) {
    mkdirSync(join(pool, 'appvms', q), { recursive: true });
    writeFileSync(join(pool, 'appvms', q, 'private.img'), Buffer.alloc(1 << 18, q));
  }
  const qubesDir = join(dir, 'qubes');
  mkdirSync(qubesDir);
  writeFileSync(join(qubesDir, 'qubes.xml'), QUBES_XML);
  const tar = join(dir, 'meta.tgz');
  await buildMetadataTar(qubesDir, tar);
  const localFrom = join(dir, 'vols.json');
  writeFileSync(
    localFrom,
    JSON.stringify({
      [pool]: [
        ['appvms/work/private.img', ''],
        ['appvms/personal/private.img', ''],
      ],
    }),
  );
  const argv = wyngArgv.send({ dest, unattended: true, wyngopt: [] }, { localFrom, metadataTar: tar });
  execFileSync(wyng, argv, { env: { ...env, WYNG_FAKE_NOW: '2025-03-01T02:00:00Z' }, stdio: 'pipe' });
  execFileSync(wyng, argv, { env: { ...env, WYNG_FAKE_NOW: '2025-03-02T02:00:00Z' }, stdio: 'pipe' });
  const list = onlyDocument(
    (await runService('wyng.List', { ...sb.env, ...qrexecEnv('wyng.List', 'nightly', 'mgmt') }, '{}')).stdout,
  );
  const ids = (list.result as { sessions: Array<{ id: string }> }).sessions.map((s) => s.id);
  assert.equal(ids.length, 2, JSON.stringify(list));
  return { sb, sessions: [ids[0]!, ids[1]!] };
}

const svc = (a: Archive, service: string, body: string, extra: Record<string, string> = {}, profile = 'nightly') =>
  runService(service, { ...a.sb.env, ...qrexecEnv(service, profile, 'mgmt'), ...extra }, body);

/** Every report in the state dir, oldest first. */
function reports(sb: Sandbox): Array<{
  profile: string;
  operation: string;
  command: string;
  source: string;
  ok: boolean;
  exitCode: number;
  result: unknown;
}> {
  const dir = join(sb.stateDir, 'reports');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ReturnType<typeof reports>[number]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('wyng.List against the fake Wyng: the archive, a session, named qubes', { timeout: 60_000 }, async () => {
  const a = await archive();
  const all = await svc(a, 'wyng.List', '');
  assert.equal(all.code, 0, all.stderr);
  const doc = onlyDocument(all.stdout);
  const result = doc.result as {
    sessions: Array<{ id: string; qubes: string[] }>;
    qubes: Record<string, { newest: string }>;
  };
  assert.deepEqual(
    result.sessions.map((s) => s.qubes),
    [
      ['personal', 'work'],
      ['personal', 'work'],
    ],
  );
  assert.equal(result.qubes.work?.newest, a.sessions[1]);

  const session = await svc(a, 'wyng.List', JSON.stringify({ session: a.sessions[0] }));
  assert.equal(session.code, 0, session.stderr);
  const s = (onlyDocument(session.stdout).result as { session: { id: string; qubes: Array<{ name: string }> } })
    .session;
  assert.equal(s.id, a.sessions[0]);
  assert.deepEqual(
    s.qubes.map((q) => q.name),
    ['personal', 'work'],
  );

  const range = await svc(a, 'wyng.List', JSON.stringify({ session: `${a.sessions[0]},${a.sessions[1]}` }));
  assert.equal(range.code, 9, 'ranges only for Prune');
});

test(
  'wyng.Verify against the fake Wyng: ok, and a damaged volume fails that qube (exit 2)',
  { timeout: 60_000 },
  async () => {
    const a = await archive();
    const ok = await svc(a, 'wyng.Verify', JSON.stringify({ qubes: ['work'], session: a.sessions[0] }));
    assert.equal(ok.code, 0, ok.stderr);
    const doc = onlyDocument(ok.stdout);
    assert.equal(doc.command, 'verify');
    assert.deepEqual(doc.result, {
      session: a.sessions[0],
      qubes: [{ name: 'work', status: 'ok', volumes: ['appvms/work/private.img'] }],
    });
    const verifyCalls = a.sb.wyngCalls().filter((c) => c.argv.includes('verify'));
    assert.equal(verifyCalls.length, 1);
    assert.ok(verifyCalls[0]!.argv.includes(`--session=${a.sessions[0]}`));

    const bad = await svc(a, 'wyng.Verify', '{}', { WYNG_FAKE_FAIL: 'verify-volume:appvms/personal/private.img' });
    assert.equal(bad.code, 2, bad.stderr);
    const badDoc = onlyDocument(bad.stdout);
    assert.equal(badDoc.ok, false);
    assert.deepEqual(
      badDoc.errors.map((e) => e.qube),
      ['personal'],
    );
    const lines = a.sb.auditLines().filter((l) => l.service === 'wyng.Verify');
    assert.deepEqual(
      lines.map((l) => [l.outcome, l.exitCode]),
      [
        ['ok', 0],
        ['failed', 2],
      ],
    );
    const verifies = reports(a.sb).filter((r) => r.command === 'verify');
    assert.deepEqual(
      verifies.map((r) => [r.profile, r.source, r.ok, r.exitCode]),
      [
        ['nightly', 'rpc', true, 0],
        ['nightly', 'rpc', false, 2],
      ],
    );
  },
);

test('wyng.Prune against the fake Wyng, then wyng.Status shows the last report', { timeout: 60_000 }, async () => {
  const a = await archive();
  const callsBefore = a.sb.wyngCalls().length;
  const forbidden = await svc(a, 'wyng.Prune', JSON.stringify({ session: a.sessions[0] }), {
    QREXEC_REMOTE_DOMAIN: 'work',
  });
  assert.equal(forbidden.code, 9);
  assert.equal(a.sb.wyngCalls().length, callsBefore, 'a refused Prune never reaches Wyng');

  const pruned = await svc(a, 'wyng.Prune', JSON.stringify({ session: a.sessions[0], qubes: ['work'] }));
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.deepEqual(onlyDocument(pruned.stdout).result, {
    session: a.sessions[0],
    volumes: ['appvms/work/private.img'],
    removed: { 'appvms/work/private.img': 1 },
  });
  const after = onlyDocument((await svc(a, 'wyng.List', '{"qubes":["work","personal"]}')).stdout).result as {
    qubes: Record<string, { sessions: string[] }>;
  };
  assert.deepEqual(after.qubes.work?.sessions, [a.sessions[1]]);
  assert.deepEqual(after.qubes.personal?.sessions, a.sessions);

  // Status+PROFILE: the last report of that profile only
  assert.equal((await svc(a, 'wyng.Verify', '{"qubes":["work"]}', {}, 'watch')).code, 0);
  assert.equal((await svc(a, 'wyng.Verify', '{"qubes":["work"]}', {}, 'other')).code, 0);
  const status = await svc(a, 'wyng.Status', '');
  assert.equal(status.code, 0, status.stderr);
  const st = onlyDocument(status.stdout).result as {
    running: unknown;
    reports: Record<string, { operation: string; ok: boolean; exitCode: number }>;
  };
  assert.equal(st.running, null);
  assert.deepEqual(Object.keys(st.reports), ['nightly']);
  assert.match(st.reports.nightly!.operation, /^prune$/i);
  assert.equal(st.reports.nightly!.ok, true);
  const watch = await svc(a, 'wyng.Status', '', {}, 'watch');
  const wr = (onlyDocument(watch.stdout).result as { reports: Record<string, { operation: string; exitCode: number }> })
    .reports;
  assert.deepEqual(Object.keys(wr), ['watch']);
  assert.match(wr.watch!.operation, /^verify$/i);
  assert.equal(wr.watch!.exitCode, 0);
  assert.ok(!status.stdout.includes('mgmt'), 'no caller names of other runs in the status');
});

test(
  'a caller that disconnects in the middle of a Verify: the job finishes and writes its report',
  { timeout: 60_000 },
  async () => {
    const a = await archive();
    const { child, done } = spawnService('wyng.Verify', {
      ...a.sb.env,
      ...qrexecEnv('wyng.Verify', 'nightly', 'mgmt'),
      WYNG_FAKE_DELAY_MS: '1500',
    });
    child.stdin.end('{"qubes":["work","personal"]}');
    const lock = join(a.sb.stateDir, 'wyng-qubes.lock');
    const deadline = Date.now() + 10_000;
    while (!existsSync(lock) && Date.now() < deadline) await sleep(20);
    assert.ok(existsSync(lock), 'the job started');
    await sleep(300);
    // The calling qube is gone: qrexec closes the service's output.
    child.stdout.destroy();
    child.stderr.destroy();
    const r = await done;
    assert.equal(r.code, 0);
    const [report] = reports(a.sb).filter((x) => x.command === 'verify');
    assert.equal(report?.ok, true);
    assert.equal(report?.profile, 'nightly');
    assert.deepEqual(
      (report?.result as { qubes: Array<{ name: string; status: string }> }).qubes.map((q) => [q.name, q.status]),
      [
        ['personal', 'ok'],
        ['work', 'ok'],
      ],
    );
    assert.equal(a.sb.auditLines().at(-1)?.outcome, 'ok');
    assert.ok(!existsSync(lock), 'lock released');
  },
);
