import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInProcess, runBundle } from '../helpers/cli.ts';

test('version prints the package version, and --json wraps it in one document', async () => {
  const plain = await runInProcess(['version']);
  assert.equal(plain.code, 0);
  assert.match(plain.stdout, /^wyng-qubes \S+\n$/);
  const json = await runInProcess(['--json', 'version']);
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.stdout) as { ok: boolean; command: string; result: { version: string } };
  assert.equal(doc.ok, true);
  assert.equal(doc.command, 'version');
  assert.equal(typeof doc.result.version, 'string');
  assert.match(json.stderr, /wyng-qubes/);
});

test('unknown options, missing values and bad choices exit 9 with one line on stderr', async () => {
  for (const argv of [
    ['--bogus', 'list'],
    ['list', '--dest'],
    ['--autoprune=sometimes', 'prune'],
    ['--include-disposable=maybe', 'restore'],
    ['--authmin=abc', 'list'],
    ['frobnicate'],
  ]) {
    const r = await runInProcess(argv);
    assert.equal(r.code, 9, `argv ${argv.join(' ')}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${argv.join(' ')}: ${r.stderr}`);
  }
});

test('--all is refused outside list and prune', async () => {
  const r = await runInProcess(['--all', 'verify', '--dest=file:/nonexistent']);
  assert.equal(r.code, 9);
  assert.match(r.stderr, /--all is only valid with list and prune/);
});

test('invalid qube names are refused before anything runs', async () => {
  for (const name of ['1abc', 'has space', 'a'.repeat(32), 'x-dm', 'none', 'semi;colon']) {
    const r = await runInProcess(['--json', 'verify', '--dest=file:/x', name]);
    assert.equal(r.code, 9, name);
    const doc = JSON.parse(r.stdout) as { ok: boolean; errors: { kind: string }[] };
    assert.equal(doc.ok, false);
    assert.equal(doc.errors[0]?.kind, 'input');
  }
});

test('the bundle runs with node alone and exits with our codes', async () => {
  const r = await runBundle(['version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^wyng-qubes \d+\.\d+\.\d+/);
  const bad = await runBundle(['--nope', 'list']);
  assert.equal(bad.code, 9);
});
