// `schedule enable` is all or nothing (issue 16 defect 7): when systemctl refuses, the timer's
// drop-in is what it was before (none, or the previous schedule), and systemd is reloaded again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runBundle } from '../helpers/cli.ts';
import { buildSandbox } from '../helpers/sim.ts';

const SYSTEMCTL_STUB = join(ROOT, 'test', 'fixtures', 'schedule', 'systemctl-stub.mjs');

const profiles = (schedule: string): string => `profiles:
  nightly:
    dest: file:/mnt/backup/laptop
    schedule: "${schedule}"
`;

async function sandbox() {
  const sb = await buildSandbox({ qubesd: false, profiles: profiles('Mon..Fri 02:00') });
  const unitDir = join(sb.dir, 'systemd');
  const log = join(sb.dir, 'systemctl.log');
  const systemctl = join(sb.dir, 'systemctl');
  // systemctl runs with a fixed environment: the wrapper fails "enable" while a marker file exists.
  const failMarker = join(sb.dir, 'fail-enable');
  writeFileSync(
    systemctl,
    [
      '#!/bin/sh',
      `SYSTEMCTL_STUB_LOG='${log}'; export SYSTEMCTL_STUB_LOG`,
      `SYSTEMCTL_STUB_STATE='${join(sb.dir, 'state.json')}'; export SYSTEMCTL_STUB_STATE`,
      `if [ -e '${failMarker}' ]; then SYSTEMCTL_STUB_FAIL=enable; export SYSTEMCTL_STUB_FAIL; fi`,
      `exec '${process.execPath}' '${SYSTEMCTL_STUB}' "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(systemctl, 0o755);
  const env = { ...sb.env, WYNG_QUBES_SYSTEMCTL: systemctl, WYNG_QUBES_SYSTEMD_DIR: unitDir };
  const dropinDir = join(unitDir, 'wyng-qubes-backup@nightly.timer.d');
  const calls = (): string[][] =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as string[])
      : [];
  return { sb, env, dropinDir, dropin: join(dropinDir, 'schedule.conf'), failMarker, calls };
}

test('a failed schedule enable leaves no drop-in behind and reloads systemd again', async () => {
  const s = await sandbox();
  writeFileSync(s.failMarker, '');
  const r = await runBundle(['schedule', 'enable', 'nightly', '--json'], { env: s.env });
  assert.equal(r.code, 9, r.stderr);
  assert.match(r.stderr, /Access denied/);
  assert.equal(existsSync(s.dropin), false, 'drop-in removed');
  assert.equal(existsSync(s.dropinDir), false, 'drop-in directory removed');
  assert.deepEqual(s.calls().at(-1), ['daemon-reload'], 'systemd sees the state before the command');
  const doc = JSON.parse(r.stdout) as { ok: boolean; errors: Array<{ message: string }> };
  assert.equal(doc.ok, false);
  assert.match(doc.errors[0]!.message, /nothing was changed/);
});

test('a failed schedule enable puts the previous schedule back', async () => {
  const s = await sandbox();
  const first = await runBundle(['schedule', 'enable', 'nightly'], { env: s.env });
  assert.equal(first.code, 0, first.stderr);
  const before = readFileSync(s.dropin, 'utf8');
  assert.match(before, /^OnCalendar=Mon\.\.Fri 02:00$/m);
  s.sb.writeProfiles(profiles('Sun 03:00'));
  writeFileSync(s.failMarker, '');
  const r = await runBundle(['schedule', 'enable', 'nightly'], { env: s.env });
  assert.equal(r.code, 9);
  assert.equal(readFileSync(s.dropin, 'utf8'), before);
});
