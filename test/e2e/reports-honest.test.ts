// Reports say what happened (issue 16 defect 15): Wyng's whole-MiB totals are shown in MiB (never
// "0 B sent"), a restore cancelled at the prompt is not a success, and a mistyped profile name
// gets no report entry of its own. Against the simulator.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProfileSummary } from '../../src/core/reports.ts';
import { runInProcess } from '../helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let sim: Sandbox;
let session: string;

before(async () => {
  sim = await buildSandbox();
  mkdirSync(sim.env.WYNG_QUBES_CONFIG_DIR!, { recursive: true });
  writeFileSync(
    join(sim.env.WYNG_QUBES_CONFIG_DIR!, 'profiles.yaml'),
    `profiles:\n  home:\n    dest: ${sim.archiveUrl}\n    qubes: [work]\n`,
    { mode: 0o600 },
  );
  const c = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u']);
  assert.equal(c.code, 0, c.stderr);
  const b = await sim.run(['backup', '--profile', 'home', '-u', '--json']);
  assert.equal(b.code, 0, b.stderr);
  session = (b.json!.result as { session: string }).session;
});

after(async () => {
  await sim.stop();
});

async function summary(): Promise<ProfileSummary[]> {
  const r = await sim.run(['report', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (r.json!.result as { profiles: ProfileSummary[] }).profiles;
}

test("the amount sent is shown in Wyng's unit (MiB), not as bytes", async () => {
  const text = await sim.run(['report', 'home']);
  assert.doesNotMatch(text.stdout, /\d B\b/);
  assert.match(text.stdout, /\d+ MiB/);
  const last = await sim.run(['report', '--last', 'home']);
  assert.match(last.stdout, /^ {2}sent: +\d+ MiB/m);
  assert.doesNotMatch(last.stdout, /\d B\b/);
});

test('a restore cancelled at the prompt is not the last success', async () => {
  const r = await runInProcess(['restore', '--profile', 'home', '--session', session, 'work'], {
    env: sim.env,
    tty: true,
    confirm: false,
  });
  assert.equal(r.code, 0, r.stderr);
  const home = (await summary()).find((p) => p.profile === 'home')!;
  assert.equal(home.lastRun?.operation, 'Restore');
  assert.equal(home.lastSuccess?.operation, 'Backup', 'the backup is still the last success');
  const text = await sim.run(['report', 'home']);
  assert.match(text.stdout, /last run: +Restore cancelled/);
  const last = await sim.run(['report', '--last', 'home']);
  assert.match(last.stdout, /^home: Restore cancelled/m);
});

test('a mistyped profile name gets no report entry', async () => {
  const r = await sim.run(['backup', '--profile', 'hoem', '-u', '--json']);
  assert.equal(r.code, 9);
  assert.match(r.json!.errors[0]!.message, /Unknown profile 'hoem'/);
  const profiles = (await summary()).map((p) => p.profile);
  assert.ok(!profiles.includes('hoem'), profiles.join(', '));
});
