// What ships carries no test hook: the CLI bundle (what the RPM installs) and the library are
// built with the crash hook compiled out (scripts/build.mjs, __WYNG_QUBES_TEST_HOOKS__ = false);
// only the crash suite's own build (dist/test-hooks/) keeps it. Checked in the files and in
// behaviour: the same crash request kills the test build and is ignored by the shipped one.
// Needs `npm run build` (dist/).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, ROOT, TEST_HOOKS_BUNDLE } from '../helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

// the CLI's entry, the chunks it loads (scripts/build.mjs) and the library
const CHUNKS = join(ROOT, 'dist', 'chunks');
const SHIPPED = [
  BUNDLE,
  join(ROOT, 'dist', 'lib.mjs'),
  ...(existsSync(CHUNKS) ? readdirSync(CHUNKS).map((c) => join(CHUNKS, c)) : []),
];
const TEST_HOOKS_CHUNKS = join(ROOT, 'dist', 'test-hooks', 'chunks');
const TRACES = ['WYNG_QUBES_TEST', 'CRASH_AT', 'backup:before-send', 'restore:received'];

let sim: Sandbox;

before(async () => {
  for (const f of [...SHIPPED, TEST_HOOKS_BUNDLE]) assert.ok(existsSync(f), `${f} is missing: run \`npm run build\``);
  sim = await buildSandbox();
  const created = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await sim?.stop();
});

test('the shipped CLI bundle and library hold no trace of the crash hook; the test build does', () => {
  for (const f of SHIPPED) {
    const text = readFileSync(f, 'utf8');
    for (const t of TRACES) assert.equal(text.includes(t), false, `${f} contains ${t}`);
  }
  assert.ok(SHIPPED.length > 2, 'dist/chunks/ holds the chunks');
  const hooked = [TEST_HOOKS_BUNDLE, ...readdirSync(TEST_HOOKS_CHUNKS).map((c) => join(TEST_HOOKS_CHUNKS, c))]
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const t of TRACES) assert.ok(hooked.includes(t), `the test build contains ${t}`);
});

test('WYNG_QUBES_TEST_CRASH_AT kills the test build and does nothing to the shipped bundle', async () => {
  const args = ['backup', '--dest', sim.archiveUrl, '-u', '--json', 'work'];
  const env = { WYNG_QUBES_TEST_CRASH_AT: 'backup:before-send', TZ: 'UTC' };
  const killed = await sim.run(args, { env, bundle: TEST_HOOKS_BUNDLE });
  assert.equal(killed.signal, 'SIGKILL', 'killed by a signal');
  assert.equal(killed.stdout, '');
  const shipped = await sim.run(args, { env });
  assert.equal(shipped.code, 0, shipped.stderr);
  assert.equal(shipped.json?.ok, true);
  assert.deepEqual(
    (shipped.json!.result as { qubes: Array<{ name: string; status: string }> }).qubes.map((q) => [q.name, q.status]),
    [['work', 'ok']],
  );
});
