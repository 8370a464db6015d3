// Prompts at a real terminal (issue 16 defects 2 and 12): Ctrl-D at `Continue [y/N]` is "no" (exit 0),
// Ctrl-C cancels (exit 8); both say "Cancelled.", change nothing and, under --json, print one document
// with `cancelled: true`. "n" at Wyng's own prune prompt is a cancelled prune too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FAKE_WYNG } from '../helpers/cli.ts';
import { backupResult } from '../helpers/backup-env.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { runOnPty } from '../helpers/pty.ts';

let env: Sandbox;
let first = '';

before(async () => {
  env = await buildSandbox({ archive: 'create' });
  env.fill('work', 'private', 'work');
  const a = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'work']);
  assert.equal(a.code, 0, a.stderr);
  first = backupResult(a).session!;
  env.fill('work', 'private', 'work-2');
  await new Promise((r) => setTimeout(r, 1100));
  const b = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'work']);
  assert.equal(b.code, 0, b.stderr);
});

after(async () => {
  await env?.stop();
});

const ptyEnv = (): Record<string, string | undefined> => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...env.env,
  WYNG_QUBES_WYNG: FAKE_WYNG,
  TMPDIR: env.tmpDir,
  WYNG_FAKE_HOME: join(env.dir, 'fake-home'),
});

for (const [key, name, code] of [
  ['\x04', 'Ctrl-D', 0],
  ['\x03', 'Ctrl-C', 8],
] as const) {
  test(`${name} at delete's Continue prompt: "Cancelled.", exit ${code}, nothing deleted`, async () => {
    const before = await env.archiveVolumes();
    const r = await runOnPty(['delete', '--dest', env.archiveUrl, 'work'], ptyEnv(), '[y/N]', key);
    assert.equal(r.sent, true, r.out);
    assert.equal(r.code, code, r.out);
    assert.match(r.out, /Cancelled\./);
    assert.deepEqual(await env.archiveVolumes(), before);
  });

  test(`${name} at delete's Continue prompt with --json: one document with cancelled: true`, async () => {
    const r = await runOnPty(['delete', '--dest', env.archiveUrl, '--json', 'work'], ptyEnv(), '[y/N]', key);
    assert.equal(r.code, code, r.out);
    assert.ok(r.json !== undefined, r.out);
    assert.equal(r.json.exitCode, code);
    assert.equal((r.json.result as { cancelled: boolean }).cancelled, true);
    assert.equal(r.out.split(/\r?\n/).filter((l) => l.startsWith('{')).length, 1);
  });
}

test('"n" at Wyng\'s prune prompt: "Cancelled." and cancelled: true, nothing pruned', async () => {
  const before = await env.archiveVolumes();
  const r = await runOnPty(
    ['prune', '--dest', env.archiveUrl, '--json', `--session=${first}`, 'work'],
    ptyEnv(),
    'Are you sure? [y/N]',
    'n\r',
  );
  assert.equal(r.sent, true, r.out);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Cancelled\./);
  assert.doesNotMatch(r.out, /Done\./);
  assert.equal((r.json!.result as { cancelled: boolean }).cancelled, true);
  assert.deepEqual(await env.archiveVolumes(), before);
});

test('a terminal shows a progress line per volume (backup, verify); a pipe under -u stays quiet', async () => {
  const r = await runOnPty(['backup', '--dest', env.archiveUrl, '-u', 'work'], ptyEnv(), '@@never@@', '');
  assert.equal(r.code, 0, r.out);
  // the metadata volume first (no qube), then the qube's volume: MiB done of the total, rate, time, ETA
  assert.match(r.out, /\[volume 1 of 2\] wyng-qubes-metadata — [\d.]+ of [\d.]+ MiB, \d+ s\r?\n/);
  assert.match(
    r.out,
    /\[volume 2 of 2, qube 1 of 1: work\] appvms\/work\/private\.img — [\d.]+ of [\d.]+ MiB, [\d.]+ MiB\/s, \d+ s, about \d+ s left/,
  );
  assert.match(r.out, /\[done: 2 volume\(s\)\] [\d.]+ MiB in \d+ s/);
  const session = /Session (\d{8}-\d{6})/.exec(r.out)![1]!;
  const v = await runOnPty(
    ['verify', '--dest', env.archiveUrl, '-u', `--session=${session}`, 'work'],
    ptyEnv(),
    '@@never@@',
    '',
  );
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, /\[volume 1 of 1, qube 1 of 1: work\] appvms\/work\/private\.img — [\d.]+ of [\d.]+ MiB/);
  const quiet = await env.run(['backup', '--dest', env.archiveUrl, '-u', 'work']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stdout + quiet.stderr, /\[volume /);
});
