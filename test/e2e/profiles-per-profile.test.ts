// profiles.yaml is validated per profile (issue 16 defect 9, defect 4's `profiles check` half):
// a broken profile is unusable and named, the others keep working; `profiles check` fails on
// what `schedule enable` or a run would refuse (a bad schedule, a qube that does not exist);
// `profiles` shows each profile's schedule, qubes and excludes. Against the simulator.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let sim: Sandbox;

const yaml = (archive: string): string => `profiles:
  good:
    dest: ${archive}
    qubes: [work, personal]
    exclude: [vault]
    schedule: "Mon..Fri 02:00"
  rel:
    dest: ${archive}
    qubes: [work]
    hooks:
      before: [relative/hook.sh]
  typo:
    dest: ${archive}
    qubes: [work]
    schedule: "Mon..Fry 02:00"
  ghost:
    dest: ${archive}
    qubes: [work, nonexist]
`;

before(async () => {
  sim = await buildSandbox();
  mkdirSync(sim.env.WYNG_QUBES_CONFIG_DIR!, { recursive: true });
  writeFileSync(join(sim.env.WYNG_QUBES_CONFIG_DIR!, 'profiles.yaml'), yaml(sim.archiveUrl), { mode: 0o600 });
  const c = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u']);
  assert.equal(c.code, 0, c.stderr);
});

after(async () => {
  await sim.stop();
});

test('a broken profile does not make the others unusable', async () => {
  const r = await sim.run(['backup', '--profile', 'good', '-u', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json!.ok, true);
});

test('a broken profile is unusable and named, with its field', async () => {
  const r = await sim.run(['backup', '--profile', 'rel', '-u', '--json']);
  assert.equal(r.code, 9);
  assert.equal(r.json!.errors[0]!.kind, 'config');
  assert.match(r.json!.errors[0]!.message, /profile 'rel'/);
  assert.match(r.json!.errors[0]!.message, /hooks\.before/);
  assert.doesNotMatch(r.json!.errors[0]!.message, /Invalid profiles file/);
});

test('profiles lists every usable profile with schedule, qubes and excludes, and names the broken one', async () => {
  const r = await sim.run(['profiles']);
  assert.equal(r.code, 9, 'a broken profile still makes the listing fail');
  assert.match(r.stdout, /^good\n/m);
  assert.match(r.stdout, /^ {2}qubes: +work, personal$/m);
  assert.match(r.stdout, /^ {2}exclude: +vault$/m);
  assert.match(r.stdout, /^ {2}schedule: +Mon\.\.Fri 02:00$/m);
  assert.match(r.stdout, /^ghost\n/m);
  assert.match(r.stderr, /profile 'rel': field 'hooks\.before(\.0)?'/);
  const j = await sim.run(['profiles', '--json']);
  const names = (j.json!.result as { profiles: Array<{ name: string }> }).profiles.map((p) => p.name);
  assert.deepEqual(names, ['ghost', 'good', 'typo']);
  assert.ok(j.json!.errors.some((e) => /profile 'rel'/.test(e.message)));
});

test('profiles check fails on a schedule that schedule enable refuses and on qubes that do not exist', async () => {
  const r = await sim.run(['profiles', 'check', '--json']);
  assert.equal(r.code, 9);
  const problems = (r.json!.result as { problems: string[] }).problems;
  assert.ok(
    problems.some((p) => /profile 'typo': field 'schedule': .*unknown weekday 'Fry'/.test(p)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => /profile 'ghost': field 'qubes': qube 'nonexist' does not exist/.test(p)),
    problems.join('\n'),
  );
  assert.ok(problems.some((p) => /profile 'rel'/.test(p)));
  assert.ok(!problems.some((p) => /profile 'good'/.test(p)), problems.join('\n'));
});
