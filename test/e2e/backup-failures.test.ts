// backup when Wyng fails (design.md "Wyng contract"): per-volume errors (exit 2 + .error
// file), the exit-0 failures, auth/storage codes, crashes, interrupts (Wyng's own and our
// forwarding of SIGINT/SIGTERM), a stale .error file — per qube results, exit codes, what
// qubesd is told, and that no temp file is left behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { backupResult, byName, listJson, timestampWrites, wyngAction } from '../helpers/backup-env.ts';
import { buildSandbox, type Sandbox, type SandboxRun } from '../helpers/sim.ts';

let env: Sandbox;
const QUBES = ['fedora-41', 'personal', 'work'];

before(async () => {
  env = await buildSandbox({ archive: 'create' });
  env.fill('fedora-41', 'root', 'tpl-root');
  env.fill('fedora-41', 'private', 'tpl-private');
  env.fill('personal', 'private', 'personal');
  env.fill('work', 'private', 'work');
  // a first good session, so every failure below happens on an archive with history
  const r = await backup([]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await env?.stop();
});

function backup(
  extra: string[],
  runEnv: Record<string, string> = {},
  onSpawn?: (c: ChildProcess, out: { stdout: () => string; stderr: () => string }) => void,
): Promise<SandboxRun> {
  return env.run(['backup', '--dest', env.archiveUrl, '-u', ...extra, ...QUBES], {
    env: runEnv,
    ...(onSpawn ? { onSpawn } : {}),
  });
}

/** Common to every failed run: nothing left in TMPDIR, the job lock is free again. */
async function assertCleanAfter(r: SandboxRun): Promise<void> {
  assert.deepEqual(r.tmpLeft, [], 'temp files removed');
  const again = await env.run(['list', '--dest', env.archiveUrl, '-u', '--json']);
  assert.equal(again.code, 0, `the next job runs: ${again.stderr}`);
}

test('exit 2 with an .error file: those qubes failed, the others are backed up and stamped', async () => {
  const r = await backup(['--json'], { CAPTURE_FAIL_SEND: 'send-volume:appvms/personal/private.img' });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(wyngAction(r.wyng, 'send')[0]!.exitCode, 2);
  const q = byName(backupResult(r));
  assert.equal(q.personal!.status, 'failed');
  assert.match(q.personal!.error!, /appvms\/personal\/private\.img/);
  assert.equal(q.work!.status, 'ok');
  assert.equal(q['fedora-41']!.status, 'ok');
  assert.match(r.stderr, /\nError for VMs: personal\n/);
  assert.deepEqual(
    r.json!.errors.map((e) => e.qube),
    ['personal'],
  );
  assert.deepEqual(timestampWrites(r.qubesd), ['fedora-41', 'work']);
  const vols = await env.archiveVolumes();
  const s = backupResult(r).session!;
  assert.ok(vols['appvms/work/private.img']!.includes(s));
  assert.ok(!vols['appvms/personal/private.img']!.includes(s));
  await assertCleanAfter(r);
});

test('a stale .error file from an earlier run is removed before the send', async () => {
  // planted while wyng-qubes reads the archive, i.e. before it writes its volume list
  const stale = JSON.stringify({ rc: 2, volumes: ['appvms/personal/private.img', 'vm-templates/fedora-41/root.img'] });
  const r = await backup(['--json'], {
    CAPTURE_PLANT_STALE: stale,
    CAPTURE_FAIL_SEND: 'send-volume:appvms/work/private.img',
  });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.captured.staleErrorAtStart(), false, 'no .error file next to the volume list when Wyng starts');
  const q = byName(backupResult(r));
  assert.deepEqual([q['fedora-41']!.status, q.personal!.status, q.work!.status], ['ok', 'ok', 'failed']);
  assert.match(r.stderr, /\nError for VMs: work\n/);
  await assertCleanAfter(r);
});

test('exit 0 but a local volume file is missing (Wyng only warns): that qube failed, exit 2', async () => {
  const path = env.qubesd.volumePath('personal', 'private')!;
  const saved = env.fill('personal', 'private', 'personal-again');
  rmSync(path);
  try {
    const r = await backup(['--json']);
    assert.equal(wyngAction(r.wyng, 'send')[0]!.exitCode, 0, 'Wyng itself exits 0');
    assert.match(r.stderr, /Warning: Local '[^']*appvms\/personal\/private\.img' does not exist!/);
    assert.equal(r.code, 2, r.stderr);
    const q = byName(backupResult(r));
    assert.equal(q.personal!.status, 'failed');
    assert.match(q.personal!.error!, /does not exist/);
    assert.equal(q.work!.status, 'ok');
    assert.match(r.stderr, /\nError for VMs: personal\n/);
    assert.deepEqual(timestampWrites(r.qubesd), ['fedora-41', 'work']);
    await assertCleanAfter(r);
  } finally {
    env.fill('personal', 'private', 'personal-again');
    assert.ok(saved.length > 0);
  }
});

test('Wyng exit codes: auth 3, storage 5/6/7, a crash 1 — no qube stamped, error kind and message', async () => {
  const cases: Array<{ fail: string; at: 'send' | 'all'; code: number; kind: string; message: RegExp }> = [
    { fail: 'auth', at: 'all', code: 3, kind: 'auth', message: /Could not decrypt\/authenticate archive/ },
    { fail: 'auth', at: 'send', code: 3, kind: 'auth', message: /Could not decrypt\/authenticate archive/ },
    { fail: 'storage5', at: 'send', code: 5, kind: 'storage', message: /StorageError|Wyng send/ },
    { fail: 'storage6', at: 'send', code: 6, kind: 'storage', message: /Wyng send/ },
    { fail: 'storage7', at: 'send', code: 7, kind: 'storage', message: /Filesystem Generation IDs differ/ },
    { fail: 'crash', at: 'send', code: 1, kind: 'wyng', message: /exit 1.*simulated crash/ },
  ];
  for (const c of cases) {
    const r = await backup(['--json'], c.at === 'send' ? { CAPTURE_FAIL_SEND: c.fail } : { WYNG_FAKE_FAIL: c.fail });
    const label = `${c.fail} at ${c.at}`;
    assert.equal(r.code, c.code, `${label}: ${r.stderr}`);
    assert.equal(r.json!.exitCode, c.code, label);
    assert.equal(r.json!.errors[0]!.kind, c.kind, label);
    assert.match(r.json!.errors[0]!.message, c.message, label);
    assert.equal(
      wyngAction(r.wyng, c.at === 'send' ? 'send' : 'list')[0]!.exitCode,
      c.code,
      `${label}: Wyng's own code`,
    );
    if (c.at === 'all') assert.deepEqual(wyngAction(r.wyng, 'send'), [], `${label}: no send after a failed list`);
    assert.deepEqual(timestampWrites(r.qubesd), [], label);
    await assertCleanAfter(r);
  }
});

test("Wyng's interrupt (exit 8): exit 8, nothing stamped", async () => {
  const r = await backup(['--json'], { CAPTURE_FAIL_SEND: 'interrupt-after:1' });
  assert.equal(r.code, 8, r.stderr);
  assert.equal(r.json!.errors[0]!.kind, 'interrupted');
  assert.match(r.stderr, /\*\*\* Interrupt\./);
  assert.deepEqual(timestampWrites(r.qubesd), []);
  await assertCleanAfter(r);
});

test(
  'a failed volume, then an interrupt (Wyng exits 2, the .error file lists only the failed ' +
    'one): unsent qubes are failed too',
  async () => {
    // metadata (1st), personal fails, fedora-41 private (2nd) → interrupt: fedora-41 root and work never sent
    const r = await backup(['--json'], {
      CAPTURE_FAIL_SEND: 'send-volume:appvms/personal/private.img,interrupt-after:2',
    });
    assert.equal(wyngAction(r.wyng, 'send')[0]!.exitCode, 2, 'Wyng reports exit 2, not 8');
    assert.equal(r.code, 2, r.stderr);
    const q = byName(backupResult(r));
    assert.deepEqual([q['fedora-41']!.status, q.personal!.status, q.work!.status], ['failed', 'failed', 'failed']);
    assert.match(q.work!.error!, /not stored/);
    assert.match(r.stderr, /\nError for VMs: fedora-41, personal, work\n/);
    assert.deepEqual(timestampWrites(r.qubesd), [], 'no qube stamped');
    await assertCleanAfter(r);
  },
);

test(
  'the metadata volume not stored (first pool cannot snapshot; Wyng drops the import ' + 'silently): every qube failed',
  async () => {
    const firstPool = join(env.dir, 'root', 'var', 'lib', 'qubes');
    const r = await backup(['--json'], { CAPTURE_FAIL_SEND: `no-snapshot:${firstPool}` });
    assert.equal(wyngAction(r.wyng, 'send')[0]!.exitCode, 2);
    assert.equal(r.code, 2, r.stderr);
    const result = backupResult(r);
    const q = byName(result);
    assert.deepEqual([q['fedora-41']!.status, q.personal!.status, q.work!.status], ['failed', 'failed', 'failed']);
    assert.match(q.work!.error!, /metadata/, 'work was sent, but into a session without Qubes metadata');
    assert.deepEqual(timestampWrites(r.qubesd), []);
    const list = await listJson(env);
    assert.ok(!list.sessions.some((s) => s.id === result.session), 'not a Qubes session');
    await assertCleanAfter(r);
  },
);

async function interruptDuringSend(signal: NodeJS.Signals): Promise<SandboxRun> {
  let sent = false;
  const r = await backup([], { CAPTURE_DELAY_SEND: '1500' }, (child, out) => {
    const timer = setInterval(() => {
      if (!sent && /Volume '/.test(out.stdout())) {
        sent = true;
        clearInterval(timer);
        child.kill(signal);
      }
    }, 20);
    child.on('exit', () => clearInterval(timer));
  });
  assert.ok(sent, 'the signal was sent while Wyng was sending');
  return r;
}

test(
  'SIGINT to wyng-qubes during the send is forwarded to Wyng: exit 8, nothing stamped, temp ' + 'files gone',
  async () => {
    const r = await interruptDuringSend('SIGINT');
    assert.equal(r.code, 8, r.stderr);
    const send = wyngAction(r.wyng, 'send');
    assert.equal(send.length, 1);
    assert.equal(send[0]!.exitCode, 8, 'Wyng got the SIGINT and ended with its interrupt code');
    assert.match(
      r.stderr,
      /\*\*\* Interrupt\./,
      "Wyng's own message is passed through on stderr, as wyng-util-qubes does",
    );
    assert.doesNotMatch(r.stdout, /Interrupt/);
    assert.match(r.stdout, /Sending backup session/, "Wyng's progress stays on stdout");
    assert.match(r.stderr, /Error: Wyng send was interrupted/);
    assert.deepEqual(timestampWrites(r.qubesd), []);
    await assertCleanAfter(r);
  },
);

test('SIGTERM during the send: Wyng is terminated, exit 8, temp files gone', async () => {
  const r = await interruptDuringSend('SIGTERM');
  assert.equal(r.code, 8, r.stderr);
  assert.equal(wyngAction(r.wyng, 'send')[0]!.signal, 'SIGTERM');
  assert.deepEqual(timestampWrites(r.qubesd), []);
  await assertCleanAfter(r);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} while no Wyng runs (an Admin API call hangs): exit 8, temp dir removed, lock released`, async () => {
    const hangAt = env.qubesd.callLog.length + 2;
    env.qubesd.setFaults({ hangOnCall: hangAt });
    let sawTemp = false;
    try {
      const r = await backup([], {}, (child) => {
        const timer = setInterval(() => {
          if (env.qubesd.callLog.some((c) => c.outcome === 'fault-hang' && c.seq === hangAt)) {
            clearInterval(timer);
            sawTemp = readdirSync(env.tmpDir).some((n) => n.startsWith('wyng-qubes-'));
            child.kill(signal);
          }
        }, 20);
        child.on('exit', () => clearInterval(timer));
      });
      assert.ok(sawTemp, 'the temp dir existed while the call hung');
      assert.equal(r.code, 8, r.stderr);
      assert.deepEqual(
        r.wyng.filter((c) => c.argv.includes('send')),
        [],
      );
      assert.deepEqual(timestampWrites(r.qubesd), []);
      env.qubesd.setFaults({});
      await assertCleanAfter(r);
    } finally {
      env.qubesd.setFaults({});
    }
  });
}

test(
  'SIGINT while Wyng re-reads the archive after the send: the interrupt wins (exit 8), ' + 'nothing stamped',
  async () => {
    let sent = false;
    const r = await backup(['--json'], { CAPTURE_HANG_LIST_AFTER_SEND: '1' }, (child) => {
      const timer = setInterval(() => {
        if (!sent && existsSync(join(env.captureDir, 'list-after-send.started'))) {
          sent = true;
          clearInterval(timer);
          // give the fake Wyng a moment to start and hang; an earlier signal ends it just the same
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      }, 20);
      child.on('exit', () => clearInterval(timer));
    });
    assert.ok(sent, 'the re-read started');
    assert.equal(wyngAction(r.wyng, 'send')[0]!.exitCode, 0, 'the send itself completed');
    assert.equal(r.code, 8, r.stderr);
    assert.equal(r.json!.errors[0]!.kind, 'interrupted');
    assert.deepEqual(timestampWrites(r.qubesd), []);
    await assertCleanAfter(r);
  },
);
