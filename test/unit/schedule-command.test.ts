// `wyng-qubes schedule enable|disable|list` against a stub systemctl
// (test/fixtures/schedule/systemctl-stub.mjs) and a temp systemd unit directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runInProcess } from '../helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

const SYSTEMCTL_STUB = join(ROOT, 'test', 'fixtures', 'schedule', 'systemctl-stub.mjs');

const PROFILES = `profiles:
  nightly:
    dest: file:/mnt/backup/laptop
    schedule: "Mon..Fri 02:00"
  weekly:
    dest: file:/mnt/backup/laptop
    schedule: "Sun 03:00"
  plain:
    dest: file:/mnt/backup/laptop
  typo:
    dest: file:/mnt/backup/laptop
    schedule: "Mon..Fry 02:00"
  late:
    dest: file:/mnt/backup/laptop
    schedule: "*-*-* 25:00"
`;

interface Sched {
  sb: Sandbox;
  env: Record<string, string>;
  unitDir: string;
  calls(): string[][];
  dropin(profile: string): string;
}

async function sandbox(extraEnv: Record<string, string> = {}): Promise<Sched> {
  const sb = await buildSandbox({ qubesd: false, profiles: PROFILES });
  const unitDir = join(sb.dir, 'systemd');
  const log = join(sb.dir, 'systemctl.log');
  // systemctl runs with a fixed environment: a wrapper carries the stub's settings.
  const systemctl = join(sb.dir, 'systemctl');
  const vars = { SYSTEMCTL_STUB_LOG: log, SYSTEMCTL_STUB_STATE: join(sb.dir, 'systemctl.json'), ...extraEnv };
  writeFileSync(
    systemctl,
    `#!/bin/sh\n${Object.entries(vars)
      .map(([k, v]) => `${k}='${v}'; export ${k}`)
      .join('\n')}\nexec '${process.execPath}' '${SYSTEMCTL_STUB}' "$@"\n`,
  );
  chmodSync(systemctl, 0o755);
  const env = { ...sb.env, WYNG_QUBES_SYSTEMCTL: systemctl, WYNG_QUBES_SYSTEMD_DIR: unitDir };
  return {
    sb,
    env,
    unitDir,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string[])
        : [],
    dropin: (p) => join(unitDir, `wyng-qubes-backup@${p}.timer.d`, 'schedule.conf'),
  };
}

test('schedule enable writes the OnCalendar drop-in, reloads systemd and enables the timer', async () => {
  const s = await sandbox();
  const r = await runInProcess(['schedule', 'enable', 'nightly', '--json'], { env: s.env });
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(s.dropin('nightly'), 'utf8');
  assert.match(text, /^\[Timer\]\nOnCalendar=\nOnCalendar=Mon\.\.Fri 02:00\n/m);
  assert.equal(statSync(s.dropin('nightly')).mode & 0o777, 0o644);
  assert.deepEqual(s.calls(), [['daemon-reload'], ['enable', '--now', 'wyng-qubes-backup@nightly.timer']]);
  const doc = JSON.parse(r.stdout) as { result: Record<string, unknown> };
  assert.equal(doc.result.schedule, 'Mon..Fri 02:00');
  assert.equal(doc.result.timer, 'wyng-qubes-backup@nightly.timer');
  assert.equal(doc.result.dropin, s.dropin('nightly'));
  // --profile works as well as the positional name.
  assert.equal((await runInProcess(['schedule', 'enable', '--profile', 'weekly'], { env: s.env })).code, 0);
  assert.match(readFileSync(s.dropin('weekly'), 'utf8'), /^OnCalendar=Sun 03:00$/m);
});

test('an invalid schedule is a clear error (exit 9) and changes nothing', async () => {
  const s = await sandbox();
  const typo = await runInProcess(['schedule', 'enable', 'typo', '--json'], { env: s.env });
  assert.equal(typo.code, 9);
  const doc = JSON.parse(typo.stdout) as { errors: Array<{ kind: string; message: string }> };
  assert.equal(doc.errors[0]?.kind, 'config');
  assert.equal(
    doc.errors[0]?.message,
    "Profile 'typo': schedule 'Mon..Fry 02:00' is not a valid systemd calendar expression: " +
      "unknown weekday 'Fry' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun).",
  );
  const late = await runInProcess(['schedule', 'enable', 'late'], { env: s.env });
  assert.equal(late.code, 9);
  assert.match(
    late.stderr,
    /schedule '\*-\*-\* 25:00' is not a valid systemd calendar expression: hour 25 is out of range 0-23/,
  );
  assert.deepEqual(s.calls(), [], 'systemctl never ran');
  assert.ok(!existsSync(s.dropin('typo')) && !existsSync(s.dropin('late')));
});

test('systemd-analyze has the last word: a schedule it refuses is refused', async () => {
  const s = await sandbox();
  const analyze = join(s.sb.dir, 'systemd-analyze');
  writeFileSync(
    analyze,
    '#!/bin/sh\necho "Failed to parse calendar specification \'$2\': Invalid argument" >&2\nexit 1\n',
  );
  chmodSync(analyze, 0o755);
  const r = await runInProcess(['schedule', 'enable', 'nightly'], {
    env: { ...s.env, WYNG_QUBES_SYSTEMD_ANALYZE: analyze },
  });
  assert.equal(r.code, 9);
  assert.match(
    r.stderr,
    /schedule 'Mon\.\.Fri 02:00' is refused by systemd-analyze calendar: Failed to parse calendar specification 'Mon\.\.Fri 02:00'/,
  );
  assert.deepEqual(s.calls(), []);
  // A missing systemd-analyze is no error: our own check stands.
  const ok = await runInProcess(['schedule', 'enable', 'nightly', '--json'], {
    env: { ...s.env, WYNG_QUBES_SYSTEMD_ANALYZE: join(s.sb.dir, 'absent') },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { result: { analyzed: boolean } }).result.analyzed, false);
});

test('a profile without schedule gets the timer default and no drop-in', async () => {
  const s = await sandbox();
  // A drop-in left from an earlier schedule is removed.
  assert.equal((await runInProcess(['schedule', 'enable', 'nightly'], { env: s.env })).code, 0);
  const r = await runInProcess(['schedule', 'enable', 'plain', '--json'], { env: s.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Profile 'plain' .* has no schedule; the timer uses its default \(daily\)/);
  assert.equal((JSON.parse(r.stdout) as { result: { schedule: string; dropin: unknown } }).result.schedule, 'daily');
  assert.ok(!existsSync(s.dropin('plain')));
  assert.deepEqual(s.calls().at(-1), ['enable', '--now', 'wyng-qubes-backup@plain.timer']);
});

test('schedule disable stops and disables the timer and removes the drop-in', async () => {
  const s = await sandbox();
  assert.equal((await runInProcess(['schedule', 'enable', 'nightly'], { env: s.env })).code, 0);
  const r = await runInProcess(['schedule', 'disable', 'nightly', '--json'], { env: s.env });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(s.dropin('nightly')));
  assert.ok(!existsSync(join(s.unitDir, 'wyng-qubes-backup@nightly.timer.d')), 'empty drop-in dir removed');
  assert.deepEqual(s.calls().slice(2), [['disable', '--now', 'wyng-qubes-backup@nightly.timer'], ['daemon-reload']]);
  assert.equal((JSON.parse(r.stdout) as { result: { dropinRemoved: boolean } }).result.dropinRemoved, true);
  // A profile that no longer exists can still be disabled.
  assert.equal((await runInProcess(['schedule', 'disable', 'gone'], { env: s.env })).code, 0);
});

test('schedule list shows each profile: schedule, enabled, next run, and a stale drop-in', async () => {
  const s = await sandbox();
  assert.equal((await runInProcess(['schedule', 'enable', 'nightly'], { env: s.env })).code, 0);
  // The profile's schedule changes after enabling: list says the timer is stale.
  s.sb.writeProfiles(
    PROFILES.replace('schedule: "Sun 03:00"', 'schedule: "Sun 04:00"').replace('"Mon..Fri 02:00"', '"Mon..Fri 03:00"'),
  );
  const r = await runInProcess(['schedule', 'list', '--json'], { env: s.env });
  assert.equal(r.code, 0, r.stderr);
  const timers = (JSON.parse(r.stdout) as { result: { timers: Array<Record<string, unknown>> } }).result.timers;
  const byName = Object.fromEntries(timers.map((t) => [t.profile, t]));
  assert.deepEqual(Object.keys(byName).sort(), ['late', 'nightly', 'plain', 'typo', 'weekly']);
  assert.equal(byName.nightly?.enabled, true);
  assert.equal(byName.nightly?.active, true);
  assert.equal(byName.nightly?.nextRun, 'Tue 2026-12-01 02:00:00 UTC');
  assert.equal(byName.nightly?.lastRun, null);
  assert.equal(byName.nightly?.installedSchedule, 'Mon..Fri 02:00');
  assert.equal(byName.nightly?.schedule, 'Mon..Fri 03:00');
  assert.equal(byName.nightly?.stale, true);
  assert.equal(byName.weekly?.enabled, false);
  assert.equal(byName.weekly?.stale, false);
  assert.match(r.stderr, /the timer still uses 'Mon\.\.Fri 02:00': run "wyng-qubes schedule enable nightly"/);
  // One profile only; an unknown one is an error.
  const one = await runInProcess(['schedule', 'list', 'weekly', '--json'], { env: s.env });
  assert.deepEqual(
    (JSON.parse(one.stdout) as { result: { timers: Array<{ profile: string }> } }).result.timers.map((t) => t.profile),
    ['weekly'],
  );
  assert.equal((await runInProcess(['schedule', 'list', 'nosuch'], { env: s.env })).code, 9);
  // No sub-command means list.
  assert.equal((await runInProcess(['schedule'], { env: s.env })).code, 0);
});

test('usage errors and a failing systemctl are clear errors', async () => {
  const s = await sandbox();
  const cases: Array<[string[], RegExp]> = [
    [['schedule', 'enable'], /schedule enable needs a PROFILE/],
    [['schedule', 'enable', 'Bad/Name'], /invalid profile name 'Bad\/Name'/],
    [['schedule', 'start', 'nightly'], /unknown schedule action 'start'/],
    [['schedule', 'enable', 'a', 'b'], /usage: wyng-qubes schedule/],
    [['schedule', 'enable', 'nosuch'], /Unknown profile 'nosuch'/],
    [['schedule', 'enable', 'nightly', '--profile', 'weekly'], /two different profiles/],
  ];
  for (const [argv, message] of cases) {
    const r = await runInProcess(argv, { env: s.env });
    assert.equal(r.code, 9, argv.join(' '));
    assert.match(r.stderr, message, argv.join(' '));
  }
  assert.deepEqual(s.calls(), []);
  const denied = await sandbox({ SYSTEMCTL_STUB_FAIL: 'enable' });
  const r = await runInProcess(['schedule', 'enable', 'nightly'], { env: denied.env });
  assert.equal(r.code, 9);
  assert.match(
    r.stderr,
    /systemctl enable --now wyng-qubes-backup@nightly\.timer failed: Failed to enable unit: Access denied/,
  );
  const missing = await runInProcess(['schedule', 'enable', 'nightly'], {
    env: { ...s.env, WYNG_QUBES_SYSTEMCTL: join(s.sb.dir, 'no-systemctl') },
  });
  assert.equal(missing.code, 9);
  assert.match(missing.stderr, /Cannot run systemctl/);
});

test('profiles check fails on a schedule that schedule enable would refuse', async () => {
  const s = await sandbox();
  const r = await runInProcess(['profiles', 'check', '--json'], { env: s.env });
  assert.equal(r.code, 9);
  const warnings = (JSON.parse(r.stdout) as { result: { problems: string[] } }).result.problems;
  assert.ok(
    warnings.some((w) =>
      /profile 'typo': field 'schedule': not a valid systemd calendar expression: unknown weekday 'Fry'/.test(w),
    ),
    warnings.join('\n'),
  );
  assert.ok(warnings.some((w) => /profile 'late': field 'schedule': .*hour 25 is out of range 0-23/.test(w)));
  assert.ok(!warnings.some((w) => /profile '(nightly|weekly)'/.test(w)));
});
