// Command-line usage errors and help (issue 16 defects 6 and 10, --version): what a user who
// mistypes sees, as text and as the one --json document. Runs the built bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_KINDS } from '../../src/core/errors.ts';
import { ROOT, runBundle } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'wq-usage-'));
// A Wyng that must never run: any call would fail with "not found", not with a usage error.
const env = { WYNG_QUBES_STATE_DIR: join(dir, 'state'), WYNG_QUBES_WYNG: join(dir, 'no-wyng') };

interface Doc {
  ok: boolean;
  exitCode: number;
  command: string;
  result: unknown;
  errors: Array<{ kind: string; message: string }>;
}

async function run(argv: string[]) {
  const r = await runBundle(argv, { env });
  const doc = argv.includes('--json') ? (JSON.parse(r.stdout) as Doc) : undefined;
  return { ...r, doc };
}

test('an option whose value is missing does not swallow the next flag: exit 9, "--dest needs a value"', async () => {
  for (const argv of [
    ['list', '--dest', '--json'],
    ['list', '--dest', '--verbose', '--json'],
    ['list', '--dest=--x', '--json'],
    ['list', '--json', '--dest'],
  ]) {
    const r = await run(argv);
    assert.equal(r.code, 9, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.doc!.exitCode, 9);
    assert.equal(r.doc!.errors[0]!.kind, 'option');
    assert.equal(r.doc!.errors[0]!.message, '--dest needs a value', argv.join(' '));
    assert.match(r.stderr, /--dest needs a value/);
  }
  // a short option's value as well: -w then a flag
  const w = await run(['list', '--dest', 'file:/x', '-w', '--json']);
  assert.equal(w.code, 9);
  assert.match(w.doc!.errors[0]!.message, /-w, --wyngopt needs a value|--wyngopt needs a value/);
  // prefixes still expand, and a value after a prefix is still read
  const p = await run(['list', '--des', '--json']);
  assert.equal(p.code, 9);
  assert.equal(p.doc!.errors[0]!.message, '--dest needs a value');
});

test('option errors name the command the user gave', async () => {
  const r = await run(['backup', '--session', 'yesterday', '--json']);
  assert.equal(r.code, 9);
  assert.equal(r.doc!.command, 'backup');
  const u = await run(['list', '--no-such-option', '--json']);
  assert.equal(u.code, 9);
  assert.equal(u.doc!.command, 'list');
  // options first, then the command, as wyng-util-qubes accepts
  const o = await run(['--autoprune', 'sometimes', 'backup', 'work', '--json']);
  assert.equal(o.code, 9);
  assert.equal(o.doc!.command, 'backup');
  // no command at all, or an unknown one: "unknown" is then the truth
  const none = await run(['frobnicate', '--json']);
  assert.equal(none.code, 9);
  assert.equal(none.doc!.command, 'unknown');
});

test('option messages name the option once, without repeated prefixes', async () => {
  const s = await run(['backup', '--session', 'yesterday', '--json']);
  assert.equal(s.doc!.errors[0]!.message, '--session must be YYYYMMDD-HHMMSS[,YYYYMMDD-HHMMSS]');
  const p = await run(['restore', '--pref', 'label', '--json']);
  assert.equal(p.code, 9);
  assert.equal(p.doc!.errors[0]!.message, '--pref must look like NAME::x');
});

test('--help --json prints one JSON document with the help text in result', async () => {
  const r = await run(['--help', '--json']);
  assert.equal(r.code, 0);
  assert.equal(r.doc!.ok, true);
  assert.equal(r.doc!.command, 'help');
  const help = (r.doc!.result as { help: string }).help;
  assert.match(help, /^Usage: wyng-qubes /);
  assert.match(help, /--dest <url>/);
  const text = await run(['--help']);
  assert.equal(text.code, 0);
  assert.equal(text.stdout, help);
});

test('--version and -V print the version; help [COMMAND] prints the help', async () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  for (const flag of ['--version', '-V']) {
    const r = await run([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `wyng-qubes ${version}\n`);
  }
  const j = await run(['-V', '--json']);
  assert.deepEqual(j.doc!.result, { version });
  const h = await run(['help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage: wyng-qubes /);
  const hb = await run(['help', 'backup']);
  assert.equal(hb.code, 0);
  assert.match(hb.stdout, /^Usage: wyng-qubes /);
});

test('a bad qube name is shown as typed: non-ASCII letters readable, control characters escaped', async () => {
  const r = await run(['backup', 'wörk', '--json']);
  assert.equal(r.code, 9);
  assert.match(r.doc!.errors[0]!.message, /Invalid qube name 'wörk'/);
  const c = await run(['backup', 'a\x01b\u202e', '--json']);
  assert.equal(c.code, 9);
  assert.match(c.doc!.errors[0]!.message, /Invalid qube name 'a\\u0001b\\u202e'/);
  assert.doesNotMatch(c.stderr, /[\x01\u202e]/);
});

test("README's list of error kinds names every kind", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('`kind` is one of');
  assert.ok(at >= 0);
  const listed = /`kind` is one of `([^`]*)`/.exec(readme.slice(at))![1]!.split(/\s+/);
  assert.deepEqual([...listed].sort(), [...ERROR_KINDS].sort());
});

test('profile names in usage errors are shown as typed too', async () => {
  for (const argv of [
    ['schedule', 'enable', 'nächtlich', '--json'],
    ['report', 'nächtlich', '--json'],
  ]) {
    const r = await run(argv);
    assert.equal(r.code, 9, argv.join(' '));
    assert.match(r.doc!.errors[0]!.message, /invalid profile name 'nächtlich'/);
  }
});
