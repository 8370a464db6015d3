// `wyng-qubes report [--last] [--json] [PROFILE]` over <state dir>/reports/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from '../helpers/cli.ts';
import { writeReport, type Report } from '../../src/adapters/reports.ts';
import type { ProfileSummary } from '../../src/core/reports.ts';

const T0 = Date.parse('2026-11-20T02:00:00Z');

function rep(profile: string, minutes: number, fields: Partial<Report>): Report {
  const started = new Date(T0 + minutes * 60_000);
  const durationMs = fields.durationMs ?? 90_000;
  return {
    version: 1,
    profile,
    operation: 'Backup',
    command: 'backup',
    source: 'timer',
    startedAt: started.toISOString(),
    finishedAt: new Date(started.getTime() + durationMs).toISOString(),
    durationMs,
    ok: true,
    exitCode: 0,
    result: null,
    errors: [],
    ...fields,
  };
}

function stateWithReports(): string {
  const state = mkdtempSync(join(tmpdir(), 'wq-report-'));
  const backup = (session: string, bytes: number) => ({
    session,
    qubes: [
      { name: 'work', status: 'ok', volumes: [] },
      { name: 'vault', status: 'ok', volumes: [] },
    ],
    bytesSent: bytes,
    seconds: 60,
  });
  writeReport(state, rep('nightly', 0, { result: backup('20261120-020000', 2_000_000_000), durationMs: 60_000 }));
  writeReport(state, rep('nightly', 1440, { result: backup('20261121-020000', 1_000_000_000), durationMs: 120_000 }));
  writeReport(
    state,
    rep('nightly', 2880, {
      ok: false,
      exitCode: 9,
      result: null,
      errors: [
        {
          kind: 'hook',
          message:
            "The hooks.before command of profile 'nightly' (/usr/bin/mount) failed (exit 32); the backup did not run.",
        },
      ],
      durationMs: 2_000,
    }),
  );
  writeReport(
    state,
    rep('nightly', 2900, {
      operation: 'Verify',
      command: 'verify',
      source: 'cli',
      result: { session: '20261121-020000', qubes: [] },
      durationMs: 30_000,
    }),
  );
  writeReport(
    state,
    rep('weekly', 100, {
      source: 'rpc',
      caller: 'mgmt',
      result: backup('20261120-034000', 5_000_000),
      durationMs: 10_000,
    }),
  );
  writeReport(
    state,
    rep('_none', 50, { operation: 'Prune', command: 'prune', source: 'cli', result: { removed: {} } }),
  );
  return state;
}

test('report --json: per profile the last success, last failure, last backup, averages', async () => {
  const state = stateWithReports();
  const r = await runInProcess(['report', '--json'], { env: { WYNG_QUBES_STATE_DIR: state } });
  assert.equal(r.code, 0, r.stderr);
  const profiles = (JSON.parse(r.stdout) as { result: { profiles: ProfileSummary[] } }).result.profiles;
  assert.deepEqual(
    profiles.map((p) => p.profile),
    ['_none', 'nightly', 'weekly'],
  );
  const nightly = profiles[1]!;
  assert.equal(nightly.runs, 4);
  assert.equal(nightly.failures, 1);
  assert.equal(nightly.lastRun?.operation, 'Verify');
  assert.equal(nightly.lastSuccess?.operation, 'Verify');
  assert.equal(nightly.lastFailure?.operation, 'Backup');
  assert.equal(nightly.lastFailure?.exitCode, 9);
  assert.match(nightly.lastFailure?.error ?? '', /hooks\.before command/);
  assert.equal(nightly.lastBackup?.session, '20261121-020000');
  assert.equal(nightly.lastBackup?.bytesSent, 1_000_000_000);
  assert.equal(nightly.lastBackup?.durationMs, 120_000);
  assert.deepEqual(nightly.lastBackup?.qubes, { ok: 2, failed: 0 });
  assert.deepEqual(nightly.backupAverage, { count: 2, durationMs: 90_000, bytesSent: 1_500_000_000 });
  const weekly = profiles[2]!;
  assert.equal(weekly.lastFailure, null);
  assert.equal(weekly.lastSuccess?.source, 'rpc');
});

test('report: readable text per profile', async () => {
  const state = stateWithReports();
  const r = await runInProcess(['report'], { env: { WYNG_QUBES_STATE_DIR: state } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^nightly: 4 run\(s\) kept, 1 failed$/m);
  assert.match(
    r.stdout,
    /^ {2}last success: Verify, 2026-11-22T02:20:30\.000Z, 30\.0 s, session 20261121-020000, 0 qube\(s\) ok, via cli$/m,
  );
  assert.match(
    r.stdout,
    /^ {2}last failure: Backup, 2026-11-22T02:00:02\.000Z, 2\.0 s, via timer \(exit 9\): The hooks\.before command/m,
  );
  assert.match(r.stdout, /^ {2}backups: {6}2 ok, on average 1 min 30 s and 1430\.5 MiB sent$/m);
  assert.match(r.stdout, /^\(no profile\): 1 run\(s\) kept, 0 failed$/m);
  assert.match(r.stdout, /^weekly: 1 run\(s\) kept, 0 failed$/m);
  // One profile only.
  const one = await runInProcess(['report', 'weekly'], { env: { WYNG_QUBES_STATE_DIR: state } });
  assert.doesNotMatch(one.stdout, /nightly/);
  assert.match(one.stdout, /^weekly:/m);
});

test('report --last: the newest report in full, of all or of one profile', async () => {
  const state = stateWithReports();
  const last = await runInProcess(['report', '--last', '--json'], { env: { WYNG_QUBES_STATE_DIR: state } });
  assert.equal(last.code, 0, last.stderr);
  const doc = JSON.parse(last.stdout) as { result: { report: Report } };
  assert.equal(doc.result.report.profile, 'nightly');
  assert.equal(doc.result.report.operation, 'Verify');
  const weekly = await runInProcess(['report', '--last', 'weekly'], { env: { WYNG_QUBES_STATE_DIR: state } });
  assert.equal(weekly.code, 0);
  assert.match(weekly.stdout, /^weekly: Backup succeeded$/m);
  assert.match(weekly.stdout, /^ {2}source: {3}rpc \(from mgmt\)$/m);
  assert.match(weekly.stdout, /^ {2}sent: {5}4\.8 MiB$/m);
  const failed = await runInProcess(['report', '--last', '--profile', 'nightly'], {
    env: { WYNG_QUBES_STATE_DIR: state },
  });
  assert.match(failed.stdout, /^nightly: Verify succeeded$/m);
});

test('report: no reports, unreadable reports, bad arguments', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'wq-report-'));
  const none = await runInProcess(['report'], { env: { WYNG_QUBES_STATE_DIR: empty } });
  assert.equal(none.code, 0);
  assert.equal(none.stdout, 'No reports yet.\n');
  const noneLast = await runInProcess(['report', '--last'], { env: { WYNG_QUBES_STATE_DIR: empty } });
  assert.equal(noneLast.code, 9);
  assert.match(noneLast.stderr, /No reports yet/);
  const unknown = await runInProcess(['report', '--last', 'other'], {
    env: { WYNG_QUBES_STATE_DIR: stateWithReports() },
  });
  assert.equal(unknown.code, 9);
  assert.match(unknown.stderr, /No reports for profile 'other'/);

  const state = stateWithReports();
  writeFileSync(join(state, 'reports', '20261130T000000000Z-nightly-Backup.json'), '{ broken');
  const r = await runInProcess(['report', '--last', 'nightly', '--json'], { env: { WYNG_QUBES_STATE_DIR: state } });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /report 20261130T000000000Z-nightly-Backup\.json is unreadable; skipped/);
  assert.equal((JSON.parse(r.stdout) as { result: { report: Report } }).result.report.operation, 'Verify');

  for (const argv of [
    ['report', 'a', 'b'],
    ['report', 'Bad!'],
    ['backup', '--last'],
  ]) {
    const bad = await runInProcess(argv, { env: { WYNG_QUBES_STATE_DIR: state } });
    assert.equal(bad.code, 9, argv.join(' '));
  }
});
