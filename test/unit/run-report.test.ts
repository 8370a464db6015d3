// Reports, hooks and notifiers of backup/restore/verify/prune runs (src/app/job.ts),
// through the real CLI in-process, in a sandbox without qubesd: the fake Wyng with an archive made
// by seeded sends, stub programs for hooks and notifiers.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { buildSandbox, type Sandbox, type SeedSession } from '../helpers/sim.ts';
import { run } from '../../src/index.ts';
import { notifyDesktop, qubesGroupMembers } from '../../src/adapters/hooks.ts';
import {
  listReportFiles,
  MAX_PER_PROFILE,
  MAX_TOTAL,
  readReport,
  writeReport,
  type Report,
} from '../../src/adapters/reports.ts';

const prune = ['prune', '--profile', 'nightly', '--autoprune', 'on', '--json', 'work'];

/**
 * An archive like the recorded autoprune case (Wyng 0.8 rc4, transcripts a02–a05): three sessions
 * on one day long ago, then sparser ones up to "today" (the fake's clock is pinned to it). With
 * Wyng's default --apdays 0:62:1:2, `--autoprune=on` thins the old day: `appvms/work/private.img -1`.
 */
const SEED: SeedSession[] = [
  '2026-07-26T09:00:00Z',
  '2026-07-26T10:00:00Z',
  '2026-07-26T11:00:00Z',
  '2026-07-27T09:00:00Z',
  '2026-08-15T09:00:00Z',
  '2026-09-14T09:00:00Z',
  '2026-10-24T09:00:00Z',
  '2026-11-23T03:48:23Z',
].map((at, i, all) => ({ at, qubes: i === all.length - 1 ? ['work', 'personal'] : ['work'] }));
const TODAY = '2026-11-23T03:50:00Z';

// The archive is made once and copied into each test's sandbox.
const template = buildSandbox({ qubesd: false, archive: { seed: SEED } });
after(async () => (await template).stop());

async function sandbox(profilesYaml?: (sb: Sandbox) => string): Promise<Sandbox> {
  return buildSandbox({
    qubesd: false,
    archive: { copyFrom: (await template).archiveDir },
    ...(profilesYaml !== undefined ? { profiles: profilesYaml } : {}),
    env: { WYNG_QUBES_LOCK_TIMEOUT_MS: '2000', WYNG_FAKE_NOW: TODAY },
  });
}

function profiles(extra: string): (sb: Sandbox) => string {
  return (sb) => `profiles:\n  nightly:\n    dest: ${sb.archiveUrl}\n${extra}`;
}

test('a prune with a profile writes one report: profile, operation, source, timing, result', async () => {
  const sb = await sandbox(profiles(''));
  const before = Date.now();
  const r = await sb.cli(prune);
  assert.equal(r.code, 0, r.stderr);
  const [rep, ...more] = sb.reports();
  assert.equal(more.length, 0);
  assert.equal(rep?.version, 1);
  assert.equal(rep?.profile, 'nightly');
  assert.equal(rep?.operation, 'Prune');
  assert.equal(rep?.command, 'prune');
  assert.equal(rep?.source, 'cli');
  assert.equal(rep?.ok, true);
  assert.equal(rep?.exitCode, 0);
  assert.deepEqual((rep?.result as { removed: unknown }).removed, { 'appvms/work/private.img': 1 });
  assert.ok(Date.parse(String(rep?.startedAt)) >= before - 5);
  assert.ok(Date.parse(String(rep?.finishedAt)) >= Date.parse(String(rep?.startedAt)));
  assert.equal(typeof rep?.durationMs, 'number');
  assert.equal(rep?.hooks, undefined, 'no hooks, no hooks field');
  assert.match(sb.reportFiles()[0]!, /^\d{8}T\d{9}Z-nightly-Prune\.json$/);
});

test('failed runs, runs without a profile, WYNG_QUBES_RUN_SOURCE and library origins are all reported', async () => {
  const sb = await sandbox(profiles(''));
  // Wyng fails → a failed report with the error.
  const failed = await sb.cli(prune, {
    env: { CAPTURE_FAIL_PRUNE: 'crash', WYNG_QUBES_RUN_SOURCE: 'timer' },
  });
  assert.notEqual(failed.code, 0);
  // No profile: filed under "_none".
  const adhoc = await sb.cli(['prune', '--dest', sb.archiveUrl, '--autoprune', 'on', 'work'], {
    env: { WYNG_QUBES_RUN_SOURCE: 'salt' },
  });
  assert.equal(adhoc.code, 0, adhoc.stderr);
  // An unknown profile before anything runs is still a run of `verify` that failed; the mistyped
  // name gets no report entry of its own: it is filed under "_none".
  const bad = await sb.cli(['verify', '--profile', 'nosuch']);
  assert.equal(bad.code, 9);
  // The library API with an origin (as the RPC service passes it).
  const lib = await run(
    'prune',
    { profile: 'nightly', autoprune: 'on', qubes: ['work'] },
    { env: sb.env, origin: { source: 'rpc', caller: 'mgmt' } },
  );
  assert.equal(lib.ok, true);
  // Commands that are not jobs leave no report.
  assert.equal((await sb.cli(['version'])).code, 0);
  assert.equal((await sb.cli(['list', '--profile', 'nightly'])).code, 0);

  const reps = sb.reports();
  assert.deepEqual(
    reps.map((r) => [r.profile, r.operation, r.source, r.ok, r.caller ?? null]),
    [
      ['nightly', 'Prune', 'timer', false, null],
      ['_none', 'Prune', 'salt', true, null],
      ['_none', 'Verify', 'cli', false, null],
      ['nightly', 'Prune', 'rpc', true, 'mgmt'],
    ],
  );
  assert.equal(reps[0]?.exitCode, failed.code);
  assert.match(String((reps[0]?.errors as Array<{ message: string }>)[0]?.message), /prune/i);
  assert.match(String((reps[2]?.errors as Array<{ message: string }>)[0]?.message), /Unknown profile 'nosuch'/);
});

test('a report that cannot be written never fails the run', async () => {
  const sb = await sandbox(profiles(''));
  mkdirSync(sb.stateDir, { recursive: true });
  writeFileSync(join(sb.stateDir, 'reports'), 'not a directory');
  const r = await sb.cli(prune);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /cannot write the report/);
});

test('hooks: before runs first, inside the job lock; after runs last with the outcome', async () => {
  // before: writes "in-lock" to a mark file, and succeeds, only while the job lock exists.
  const sb = await sandbox((s) =>
    profiles(
      [
        '    hooks:',
        `      before: ["/bin/sh", "-c", "test -e \\"$1\\" && echo in-lock > \\"$2\\"", "sh", ` +
          `${JSON.stringify(join(s.stateDir, 'wyng-qubes.lock'))}, ${JSON.stringify(join(s.dir, 'mark'))}]`,
        `      after: ${s.recorder('after')}`,
        '',
      ].join('\n'),
    )(s),
  );
  // The Wyng wrapper records the mark file's content at each Wyng call.
  const mark = join(sb.dir, 'mark');
  const r = await sb.cli(prune, { env: { CAPTURE_MARK: mark } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    sb.wyngCalls().map((c) => c.argv.find((a) => !a.startsWith('-'))),
    ['list', 'prune'],
  );
  assert.deepEqual(
    readFileSync(`${mark}.seen`, 'utf8').trim().split('\n'),
    ['in-lock', 'in-lock'],
    'the before hook ran inside the lock, before Wyng',
  );
  const [after] = sb.recorded('after');
  assert.equal(after?.env.WYNG_QUBES_OK, '1');
  assert.equal(after?.env.WYNG_QUBES_EXIT_CODE, '0');
  assert.equal(after?.env.WYNG_QUBES_BEFORE_FAILED, '0');
  assert.equal(after?.env.WYNG_QUBES_PROFILE, 'nightly');
  assert.equal(after?.env.WYNG_QUBES_COMMAND, 'prune');
  assert.equal(after?.env.WYNG_QUBES_DEST, sb.archiveUrl);
  assert.equal(after?.env.WYNG_QUBES_RUN_SOURCE, 'cli');
  const [rep] = sb.reports();
  const hooks = rep?.hooks as { before: { ok: boolean; argv0: string }; after: { ok: boolean } };
  assert.equal(hooks.before.ok, true);
  assert.equal(hooks.before.argv0, '/bin/sh');
  assert.equal(hooks.after.ok, true);
  assert.ok(!existsSync(join(sb.stateDir, 'wyng-qubes.lock')), 'lock released');
});

test(
  'hooks: a failing before aborts the job (Wyng never runs), after still runs (to undo), the ' + 'report says why',
  async () => {
    const sb = await sandbox((s) =>
      profiles(`    hooks:\n      before: ${s.recorder('before', 'fail')}\n      after: ${s.recorder('after')}\n`)(s),
    );
    const r = await sb.cli(prune);
    assert.equal(r.code, 9);
    const doc = JSON.parse(r.stdout) as { errors: Array<{ kind: string; message: string }> };
    assert.equal(doc.errors[0]?.kind, 'hook');
    assert.match(
      doc.errors[0]!.message,
      /hooks\.before command of profile 'nightly'.*failed \(exit 3: mount: \/mnt\/backup: special device \/dev\/sdz1 does not exist\); the prune did not run/,
    );
    assert.equal(sb.recorded('before').length, 1);
    assert.deepEqual(sb.wyngCalls(), [], 'Wyng never ran');
    const afters = sb.recorded('after');
    assert.equal(afters.length, 1, 'after always runs');
    assert.equal(afters[0]?.env.WYNG_QUBES_BEFORE_FAILED, '1');
    assert.equal(afters[0]?.env.WYNG_QUBES_OK, '0');
    assert.equal(afters[0]?.env.WYNG_QUBES_EXIT_CODE, '9');
    const [rep] = sb.reports();
    assert.equal(rep?.ok, false);
    assert.equal(rep?.exitCode, 9);
    const before = (rep?.hooks as { before: { ok: boolean; exitCode: number; output: string } }).before;
    assert.equal(before.ok, false);
    assert.equal(before.exitCode, 3);
    assert.match(before.output, /special device/);
  },
);

test('hooks: a before that times out is killed and aborts the job', async () => {
  const sb = await sandbox((s) =>
    profiles(`    hooks:\n      before: ${s.recorder('before', 'sleep')}\n      timeout_s: 1\n`)(s),
  );
  const started = Date.now();
  const r = await sb.cli(prune);
  assert.equal(r.code, 9);
  assert.ok(Date.now() - started < 8000, 'did not wait for the 10 s hook');
  assert.match(r.stdout, /timed out after 1 s/);
  assert.deepEqual(sb.wyngCalls(), []);
});

test('hooks: after runs when the job fails (WYNG_QUBES_OK=0); a failing after keeps the exit code', async () => {
  const sb = await sandbox((s) => profiles(`    hooks:\n      after: ${s.recorder('after')}\n`)(s));
  const r = await sb.cli(prune, {
    env: { CAPTURE_FAIL_PRUNE: 'crash' },
  });
  assert.notEqual(r.code, 0);
  const [after] = sb.recorded('after');
  assert.equal(after?.env.WYNG_QUBES_OK, '0');
  assert.equal(after?.env.WYNG_QUBES_EXIT_CODE, String(r.code));

  const sb2 = await sandbox((s) => profiles(`    hooks:\n      after: ${s.recorder('after', 'fail')}\n`)(s));
  const ok = await sb2.cli(prune);
  assert.equal(ok.code, 0, 'a failing after hook is reported, not fatal');
  assert.match(ok.stderr, /hooks\.after command of profile 'nightly'.*failed \(exit 3/);
  assert.equal((sb2.reports()[0]?.hooks as { after: { ok: boolean } }).after.ok, false);
});

test('notify: command gets the JSON report on stdin after every run; desktop follows its mode', async () => {
  const sb = await sandbox((s) =>
    profiles(`    notify:\n      desktop: failure\n      command: ${s.recorder('mail')}\n`)(s),
  );
  assert.equal((await sb.cli(prune)).code, 0);
  assert.notEqual(
    (
      await sb.cli(prune, {
        env: { CAPTURE_FAIL_PRUNE: 'crash' },
      })
    ).code,
    0,
  );
  const mails = sb.recorded('mail').map((m) => JSON.parse(m.stdin) as Report);
  assert.deepEqual(
    mails.map((m) => m.ok),
    [true, false],
  );
  assert.deepEqual(
    mails.map((m) => m.profile),
    ['nightly', 'nightly'],
  );
  // The report the command got is the one on disk.
  assert.deepEqual(mails, sb.reports());
  // desktop: failure → one notification, for the failed run, critical.
  const desktop = sb.recorded('desktop');
  assert.equal(desktop.length, 1);
  assert.ok(desktop[0]!.args.includes('--urgency=critical'));
  assert.ok(desktop[0]!.args.includes("wyng-qubes: prune of 'nightly' FAILED"), JSON.stringify(desktop[0]!.args));
  assert.match(desktop[0]!.args.at(-1)!, /wyng-qubes report --last nightly/);

  const always = await sandbox(profiles('    notify:\n      desktop: always\n'));
  assert.equal((await always.cli(prune)).code, 0);
  const [n] = always.recorded('desktop');
  assert.ok(n?.args.includes("wyng-qubes: prune of 'nightly' done"));
  assert.ok(n?.args.includes('--urgency=normal'));
});

test('notify: failing notifiers are logged and never fail the run', async () => {
  const sb = await sandbox((s) =>
    profiles(`    notify:\n      desktop: always\n      command: ${s.recorder('mail', 'fail')}\n`)(s),
  );
  const r = await sb.cli(prune, {
    env: { WYNG_QUBES_NOTIFY_SEND: join(sb.dir, 'missing-notify-send') },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /notify\.command of profile 'nightly' failed \(exit 3/);
  assert.match(r.stderr, /desktop notification for profile 'nightly' failed/);
  assert.equal(JSON.parse(r.stdout).ok, true);
  assert.equal(sb.reports().length, 1);
});

test('reports are rotated: at most MAX_PER_PROFILE per profile and MAX_TOTAL in all, oldest first', async () => {
  const sb = await sandbox();
  const base = Date.parse('2026-01-01T00:00:00Z');
  const report = (profile: string, i: number): Report => ({
    version: 1,
    profile,
    operation: 'Backup',
    command: 'backup',
    source: 'timer',
    startedAt: new Date(base + i * 1000).toISOString(),
    finishedAt: new Date(base + i * 1000 + 500).toISOString(),
    durationMs: 500,
    ok: true,
    exitCode: 0,
    result: { session: `s${i}` },
    errors: [],
  });
  for (let i = 0; i < MAX_PER_PROFILE + 5; i += 1) writeReport(sb.stateDir, report('a', i));
  const kept = listReportFiles(sb.stateDir);
  assert.equal(kept.length, MAX_PER_PROFILE);
  assert.equal(
    readReport(sb.stateDir, kept[0]!.file)?.result &&
      (readReport(sb.stateDir, kept[0]!.file)!.result as { session: string }).session,
    's5',
  );
  // Many profiles: the total bound holds too (files made directly, then one more write).
  const dir = join(sb.stateDir, 'reports');
  for (let p = 0; p < 10; p += 1) {
    for (let i = 0; i < MAX_PER_PROFILE; i += 1) {
      const r = report(`p${p}`, 1000 + p * 1000 + i);
      writeFileSync(
        join(dir, `${r.startedAt.replace(/[-:]/g, '').replace('.', '')}-p${p}-Backup.json`),
        JSON.stringify(r),
      );
    }
  }
  writeReport(sb.stateDir, report('b', 99_999));
  const all = listReportFiles(sb.stateDir);
  assert.equal(all.length, MAX_TOTAL);
  assert.ok(
    all.some((f) => f.profile === 'b'),
    'the newest is kept',
  );
  assert.ok(!all.some((f) => f.profile === 'a'), 'the oldest went first');
  chmodSync(dir, 0o700);
});

test("desktop notification for another user goes through runuser with that user's session bus", async () => {
  const sb = await sandbox();
  const runuser = join(sb.dir, 'runuser');
  const out = join(sb.dir, 'runuser.log');
  writeFileSync(runuser, `#!/bin/sh\nprintf '%s\\n' "$@" > '${out}'\n`);
  chmodSync(runuser, 0o755);
  const problem = await notifyDesktop(
    { WYNG_QUBES_DESKTOP_USER: 'nobody', WYNG_QUBES_RUNUSER: runuser, WYNG_QUBES_NOTIFY_SEND: '/usr/bin/notify-send' },
    { summary: 'S', body: 'B', urgency: 'critical' },
  );
  assert.equal(problem, undefined);
  const uid = /^nobody:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[1];
  assert.ok(
    uid !== undefined && userInfo().username !== 'nobody',
    'this test needs a user nobody that is not the current user',
  );
  const args = readFileSync(out, 'utf8').trimEnd().split('\n');
  assert.deepEqual(args.slice(0, 4), ['-u', 'nobody', '--', 'env']);
  assert.ok(args.includes(`DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/${uid}/bus`), args.join(' '));
  assert.deepEqual(args.slice(-7), [
    '/usr/bin/notify-send',
    '--app-name=wyng-qubes',
    '--urgency=critical',
    '--icon=drive-harddisk',
    '--',
    'S',
    'B',
  ]);
  // No desktop user at all: a clear problem, not an exception.
  assert.match(
    (await notifyDesktop(
      { WYNG_QUBES_DESKTOP_USER: 'no such user!' },
      { summary: 'S', body: 'B', urgency: 'normal' },
    )) ?? '',
    /no desktop user found/,
  );
});

test('the dom0 desktop user is the first non-root member of group qubes', () => {
  assert.deepEqual(qubesGroupMembers('wheel:x:10:user\nqubes:x:1001:root,user,admin\n'), ['user', 'admin']);
  assert.deepEqual(qubesGroupMembers('qubes:x:1001:\n'), []);
  assert.deepEqual(qubesGroupMembers('users:x:100:user\n'), []);
});
