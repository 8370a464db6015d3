// A scheduled run as systemd starts it: the command line and environment come from the
// shipped unit packaging/systemd/wyng-qubes-backup@.service (instance "nightly"), run against
// the simulator (fake qubesd + fake Wyng). The run writes a report, runs the profile's hooks
// and calls its notifiers (stubs that record what they got).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import type { Report } from '../../src/adapters/reports.ts';
import type { ProfileSummary } from '../../src/core/reports.ts';

const UNIT = join(ROOT, 'packaging', 'systemd', 'wyng-qubes-backup@.service');

/** ExecStart's arguments and the Environment= settings of the unit, for one instance. */
function unitCommand(instance: string): { program: string; args: string[]; env: Record<string, string> } {
  const text = readFileSync(UNIT, 'utf8');
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)) env[m[1]!] = m[2]!;
  const exec = /^ExecStart=(.+)$/m.exec(text)?.[1];
  assert.ok(exec, 'the unit has ExecStart');
  const [program, ...args] = exec.replaceAll('%i', instance).split(/\s+/);
  return { program: program!, args, env };
}

let sim: Sandbox;

before(async () => {
  sim = await buildSandbox();
  const created = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const configDir = sim.env.WYNG_QUBES_CONFIG_DIR!;
  mkdirSync(configDir, { recursive: true });
  const file = join(configDir, 'profiles.yaml');
  writeFileSync(
    file,
    [
      'profiles:',
      '  nightly:',
      `    dest: "${sim.archiveUrl}"`,
      '    qubes: [work, personal]',
      '    schedule: "Mon..Fri 02:00"',
      '    hooks:',
      `      before: ${sim.recorder('before')}`,
      `      after: ${sim.recorder('after')}`,
      '    notify:',
      '      desktop: failure',
      `      command: ${sim.recorder('mail')}`,
      '  broken:',
      `    dest: "file:${join(sim.dir, 'no-such-archive')}"`,
      '    qubes: [work]',
      '    notify:',
      '      desktop: failure',
      `      command: ${sim.recorder('mail-broken')}`,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o600);
});

after(async () => {
  await sim.stop();
});

function timerEnv(unitEnv: Record<string, string>): Record<string, string> {
  return {
    ...unitEnv,
    WYNG_QUBES_NOTIFY_SEND: sim.env.WYNG_QUBES_NOTIFY_SEND!,
    WYNG_QUBES_DESKTOP_USER: sim.env.WYNG_QUBES_DESKTOP_USER!,
  };
}

test('the unit runs "wyng-qubes backup --profile %i -u" as a timer run', () => {
  const { program, args, env } = unitCommand('nightly');
  assert.equal(program, '/usr/bin/wyng-qubes');
  assert.deepEqual(args, ['backup', '--profile', 'nightly', '-u']);
  assert.equal(env.WYNG_QUBES_RUN_SOURCE, 'timer');
});

test(
  'a scheduled backup: hooks around it, a report, the mail notifier gets it, no desktop ' + 'message on success',
  async () => {
    const { args, env } = unitCommand('nightly');
    const r = await sim.run(args, { env: timerEnv(env) });
    assert.equal(r.code, 0, r.stderr);
    const reports = readdirReports();
    assert.equal(reports.length, 1);
    const rep = reports[0]!;
    assert.equal(rep.profile, 'nightly');
    assert.equal(rep.operation, 'Backup');
    assert.equal(rep.source, 'timer');
    assert.equal(rep.ok, true);
    const result = rep.result as { session: string; qubes: Array<{ name: string; status: string }> };
    assert.match(result.session, /^\d{8}-\d{6}$/);
    assert.deepEqual(
      result.qubes.map((q) => [q.name, q.status]),
      [
        ['personal', 'ok'],
        ['work', 'ok'],
      ],
    );
    assert.equal(rep.hooks?.before?.ok, true);
    assert.equal(rep.hooks?.after?.ok, true);
    assert.equal(sim.recorded('before')[0]?.env.WYNG_QUBES_RUN_SOURCE, 'timer');
    assert.equal(sim.recorded('after')[0]?.env.WYNG_QUBES_OK, '1');
    const mails = sim.recorded('mail');
    assert.equal(mails.length, 1);
    assert.deepEqual(JSON.parse(mails[0]!.stdin), rep, 'the notifier got the report as written');
    assert.equal(sim.recorded('desktop').length, 0, 'desktop: failure → nothing on success');

    const summary = await sim.run(['report', '--json']);
    const nightly = (summary.json?.result as { profiles: ProfileSummary[] }).profiles.find(
      (p) => p.profile === 'nightly',
    );
    assert.equal(nightly?.lastBackup?.session, result.session);
    assert.equal(nightly?.lastFailure, null);
  },
);

test(
  'a scheduled backup that fails: failed report, mail notifier and a critical desktop ' +
    'message, exit code of the run',
  async () => {
    const { args, env } = unitCommand('broken');
    const r = await sim.run(args, { env: timerEnv(env) });
    assert.notEqual(r.code, 0);
    const rep = readdirReports().find((x) => x.profile === 'broken');
    assert.ok(rep, 'a report for the failed run');
    assert.equal(rep.ok, false);
    assert.equal(rep.source, 'timer');
    assert.equal(rep.exitCode, r.code);
    assert.ok(rep.errors.length > 0);
    const [mail] = sim.recorded('mail-broken');
    assert.equal((JSON.parse(mail!.stdin) as Report).ok, false);
    const desktop = sim.recorded('desktop');
    assert.equal(desktop.length, 1);
    assert.ok(desktop[0]!.args.includes('--urgency=critical'));
    assert.ok(desktop[0]!.args.includes("wyng-qubes: backup of 'broken' FAILED"));
    assert.equal(desktop[0]!.args.at(-1), `${rep.errors[0]!.message}\nDetails: wyng-qubes report --last broken`);

    const last = await sim.run(['report', '--last', 'broken']);
    assert.match(last.stdout, /^broken: Backup FAILED \(exit \d+\)$/m);
  },
);

function readdirReports(): Report[] {
  const dir = join(sim.env.WYNG_QUBES_STATE_DIR!, 'reports');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Report);
}
