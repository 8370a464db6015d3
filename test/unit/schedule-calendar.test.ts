// The OnCalendar validator (src/core/calendar.ts): the common forms pass, mistakes get a
// message naming the wrong part; where systemd-analyze exists, it agrees on every case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { checkCalendar } from '../../src/core/calendar.ts';

const VALID = [
  'daily',
  'weekly',
  'hourly',
  'monthly',
  'Daily',
  '*-*-* 02:00:00',
  '*-*-* 2:00',
  'Mon..Fri 02:00',
  'Mon,Wed,Fri 22:30',
  'Sat,Sun 03:00:00',
  'Sun 03:00',
  'Saturday *-*-1..7 18:00:00',
  '*-*-01 04:00',
  '2026-12-24 12:00',
  '12-24 12:00',
  '*:0/15',
  '*-*-* *:00:00',
  '*-*-* 00/6:00',
  '*-*-* 02:00:00 UTC',
  'Mon..Fri 02:00 Europe/Berlin',
  '*-02~03 04:00',
  'Mon',
  '*-*-* 02:00:30.5',
];

const INVALID: Array<[string, RegExp]> = [
  ['', /empty/],
  ['dayly', /'dayly' is not a weekday \(Mon\.\.Sun\) nor a shorthand \(minutely, hourly, daily/],
  ['Mon..Fry 02:00', /unknown weekday 'Fry'/],
  ['*-*-* 25:00', /hour 25 is out of range 0-23/],
  ['*-*-* 02:60', /minute 60 is out of range 0-59/],
  ['*-13-01 00:00', /month 13 is out of range 1-12/],
  ['*-*-32 00:00', /day 32 is out of range 1-31/],
  ['2 am', /'2' is neither a date nor a time \(write e\.g\. 2:00 for a time\)/],
  ['02:00 Mon', /unexpected 'Mon'/],
  ['daily 02:00', /'daily' must stand alone/],
  ['*-*-* 2', /not a time|unexpected/],
  ['*-*-* 02:00:00:00', /'02:00:00:00' is not a time/],
  ['*-*-* 05..02:00', /hour range '05\.\.02' goes backwards/],
  ['*-*-* */0:00', /repetition '\/0' in the hour must be a positive number/],
  ['Mon,,Fri', /empty item in the weekday list/],
];

test('common calendar forms are accepted', () => {
  for (const expr of VALID) assert.deepEqual(checkCalendar(expr), { ok: true }, expr);
});

test('mistakes are refused with a message that names the wrong part', () => {
  for (const [expr, message] of INVALID) {
    const r = checkCalendar(expr);
    assert.equal(r.ok, false, `'${expr}' should be refused`);
    if (!r.ok) assert.match(r.problem, message, `'${expr}': ${r.problem}`);
  }
});

const NO_SYSTEMD_ANALYZE =
  spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).error !== undefined
    ? 'systemd-analyze is not installed: the calendar cases are checked by the table only'
    : undefined;

test(
  'systemd-analyze calendar agrees with every case',
  NO_SYSTEMD_ANALYZE === undefined ? {} : { skip: NO_SYSTEMD_ANALYZE },
  () => {
    for (const expr of VALID) {
      const r = spawnSync('systemd-analyze', ['calendar', expr], {
        encoding: 'utf8',
        env: { ...process.env, SYSTEMD_COLORS: '0' },
      });
      assert.equal(r.status, 0, `systemd-analyze refuses '${expr}': ${r.stderr}`);
    }
    for (const [expr] of INVALID) {
      if (expr === '') continue;
      const r = spawnSync('systemd-analyze', ['calendar', expr], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, `systemd-analyze accepts '${expr}' but we refuse it`);
    }
  },
);
