// The shipped units packaging/systemd/wyng-qubes-backup@.{service,timer}: their content is
// checked here always; where systemd-analyze is installed, `systemd-analyze verify` must also
// accept them (with ExecStart pointed at the built bundle, since /usr/bin/wyng-qubes may not
// exist here) and the timer with a schedule drop-in, and must refuse a broken schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE, ROOT } from '../helpers/cli.ts';
import { dropinText } from '../../src/adapters/systemd.ts';
import { parseCommandLine } from '../../src/cli/program.ts';

const DIR = join(ROOT, 'packaging', 'systemd');
const SERVICE = readFileSync(join(DIR, 'wyng-qubes-backup@.service'), 'utf8');
const TIMER = readFileSync(join(DIR, 'wyng-qubes-backup@.timer'), 'utf8');

/** section → key → values (in order), ignoring comments. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0 && section !== '', `a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq);
    ((out[section]![key] ??= []) as string[]).push(line.slice(eq + 1));
  }
  return out;
}

test('the service runs one backup of the profile %i under the CLI (content)', () => {
  const u = parseUnit(SERVICE);
  assert.deepEqual(Object.keys(u), ['Unit', 'Service']);
  assert.deepEqual(u.Service?.Type, ['oneshot']);
  assert.deepEqual(u.Service?.ExecStart, ['/usr/bin/wyng-qubes backup --profile %i -u']);
  assert.ok(u.Service?.Environment?.includes('WYNG_QUBES_RUN_SOURCE=timer'));
  assert.deepEqual(u.Service?.KillMode, ['mixed']);
  assert.deepEqual(u.Unit?.After, ['qubesd.service local-fs.target']);
  assert.equal(u.Service?.User, undefined, 'runs as root');
  // A recovery boot (qubes.skip_autostart) runs no missed backup, as Qubes' autostart units.
  assert.deepEqual(u.Unit?.ConditionKernelCommandLine, ['!qubes.skip_autostart']);
  // Hardening that keeps Wyng's device access: no ProtectClock (its implied DeviceAllow
  // closes the device policy before systemd 253), no ProtectHome (profiles' paths).
  for (const key of ['PrivateTmp', 'NoNewPrivileges', 'LockPersonality']) assert.deepEqual(u.Service?.[key], ['yes']);
  assert.deepEqual(u.Service?.SystemCallArchitectures, ['native']);
  for (const key of ['ProtectClock', 'ProtectHome', 'DeviceAllow', 'PrivateDevices'])
    assert.equal(u.Service?.[key], undefined, key);
  // The command line is one the CLI accepts, for any profile name.
  const argv = u.Service!.ExecStart![0]!.replace('%i', 'work-weekly').split(' ').slice(1);
  const parsed = parseCommandLine(argv, { stdout: () => undefined, stderr: () => undefined, stdinIsTTY: false });
  assert.ok(!('help' in parsed));
  if (!('help' in parsed)) {
    assert.equal(parsed.command, 'backup');
    assert.equal(parsed.options.profile, 'work-weekly');
    assert.equal(parsed.options.unattended, true);
  }
});

test('the timer catches up missed runs, spreads them, defaults to daily (content)', () => {
  const u = parseUnit(TIMER);
  assert.deepEqual(Object.keys(u), ['Unit', 'Timer', 'Install']);
  assert.deepEqual(u.Timer?.OnCalendar, ['daily']);
  assert.deepEqual(u.Timer?.Persistent, ['true']);
  assert.match(u.Timer?.RandomizedDelaySec?.[0] ?? '', /^\d+(min|s|h)?$/);
  assert.deepEqual(u.Install?.WantedBy, ['timers.target']);
  assert.equal(u.Timer?.Unit, undefined, 'the timer starts the service instance of the same name');
  // A drop-in replaces the default: an empty OnCalendar= first, then the profile's schedule.
  const d = parseUnit(dropinText('nightly', 'Mon..Fri 02:00'));
  assert.deepEqual(d.Timer?.OnCalendar, ['', 'Mon..Fri 02:00']);
});

const NO_SYSTEMD_ANALYZE =
  spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).error !== undefined
    ? 'systemd-analyze is not installed: the unit files are checked by content only'
    : undefined;

test(
  'systemd-analyze verify accepts the units and a scheduled timer, refuses a broken schedule',
  NO_SYSTEMD_ANALYZE === undefined ? {} : { skip: NO_SYSTEMD_ANALYZE },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-units-'));
    const local = (text: string): string => text.replaceAll('/usr/bin/wyng-qubes', BUNDLE);
    writeFileSync(join(dir, 'wyng-qubes-backup@.service'), local(SERVICE));
    writeFileSync(join(dir, 'wyng-qubes-backup@.timer'), TIMER);
    const verify = (...files: string[]) =>
      spawnSync('systemd-analyze', ['verify', '--man=no', ...files.map((f) => join(dir, f))], {
        encoding: 'utf8',
        cwd: dir,
        env: { ...process.env, SYSTEMD_LOG_COLOR: '0' },
      });
    const ok = verify('wyng-qubes-backup@.service', 'wyng-qubes-backup@.timer');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr.trim(), '', 'no warnings');
    // The timer as systemd sees it with the drop-in that `schedule enable` writes (drop-ins
    // append their sections to the unit).
    writeFileSync(join(dir, 'wyng-qubes-backup@.service'), local(SERVICE));
    writeFileSync(join(dir, 'sched@.service'), local(SERVICE));
    writeFileSync(join(dir, 'sched@.timer'), `${TIMER}\n${dropinText('nightly', 'Mon..Fri 02:00')}`);
    const scheduled = verify('sched@.timer', 'sched@.service');
    assert.equal(scheduled.status, 0, scheduled.stderr);
    // The same check fails for a schedule systemd cannot parse: verify really checks.
    writeFileSync(join(dir, 'bad@.service'), local(SERVICE));
    writeFileSync(join(dir, 'bad@.timer'), `${TIMER}\n${dropinText('nightly', 'Mon..Fry 02:00')}`);
    const bad = verify('bad@.timer', 'bad@.service');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Failed to parse calendar specification/);
  },
);
