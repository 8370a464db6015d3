// Issue 16: one commander subcommand per command. Per-command help (`backup --help`, `help backup`,
// `--help backup`), the overview, `help nosuch`; and wyng-util-qubes 0.9's command lines still run
// unchanged: options before the command, 0.9 prefixes, every 0.9 option with every command.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from '../../src/core/options.ts';
import { runBundle } from '../helpers/cli.ts';
import { backupResult, listJson } from '../helpers/backup-env.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

const dir = mkdtempSync(join(tmpdir(), 'wq-subcmd-'));
// A Wyng that must never run for the help and usage errors.
const noWyng = { WYNG_QUBES_STATE_DIR: join(dir, 'state'), WYNG_QUBES_WYNG: join(dir, 'no-wyng') };
const help = async (argv: string[]): Promise<string> => {
  const r = await runBundle(argv, { env: noWyng });
  assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
};
/** The long options a help text lists. */
const listed = (text: string): Set<string> =>
  new Set([...text.matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!));

let env: Sandbox;

before(async () => {
  env = await buildSandbox({ archive: 'create' });
  env.fill('work', 'private', 'work');
  const b = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'work']);
  assert.equal(b.code, 0, b.stderr);
});

after(async () => {
  await env?.stop();
});

test("backup --help shows backup's options and the common ones, not restore's", async () => {
  const text = await help(['backup', '--help']);
  assert.match(text, /^Usage: wyng-qubes backup \[options\] \[QUBE \.\.\.\]\n/);
  const opts = listed(text);
  for (const o of ['--dedup', '--autoprune', '--exclude', '--check-after-send', '--dry-run', '--dest', '--json', '-w'])
    assert.ok(opts.has(o) || text.includes(`${o},`) || text.includes(` ${o} `), `backup --help lists ${o}`);
  for (const o of ['--pool', '--allow-reach', '--as', '--pref', '--pool-info', '--last', '--expect-plan'])
    assert.ok(!opts.has(o), `backup --help does not list ${o}`);
  assert.match(text, /^Common options:$/m);
});

test("restore --help lists restore's own options; help restore and --help restore print the same", async () => {
  const text = await help(['restore', '--help']);
  const opts = listed(text);
  for (const o of ['--allow-reach', '--as', '--dry-run', '--pool', '--pref', '--expect-plan', '--session', '--dest'])
    assert.ok(opts.has(o), `restore --help lists ${o}`);
  for (const o of ['--dedup', '--autoprune', '--last', '--pool-info']) assert.ok(!opts.has(o), `not ${o}`);
  assert.equal(await help(['help', 'restore']), text);
  assert.equal(await help(['--help', 'restore']), text);
  assert.equal(await help(['-u', 'restore', '-h', 'work']), text);
});

test('the overview lists every command with one line; --help, help and -h print it', async () => {
  const text = await help(['--help']);
  assert.match(text, /^Usage: wyng-qubes \[options\] COMMAND/);
  for (const c of [...COMMANDS, 'help']) assert.match(text, new RegExp(`^  ${c}\\b.* {2,}\\S`, 'm'), c);
  assert.ok(!listed(text).has('--allow-reach'), 'per-command options are left to the command help');
  assert.equal(await help(['help']), text);
  assert.equal(await help(['-h']), text);
  // --json: the help text in the one document, as before
  const j = await runBundle(['help', 'backup', '--json'], { env: noWyng });
  const doc = JSON.parse(j.stdout) as { command: string; result: { help: string } };
  assert.equal(doc.command, 'help');
  assert.equal(doc.result.help, await help(['backup', '--help']));
});

test('help of a command that does not exist: exit 9 and a clear message', async () => {
  const r = await runBundle(['help', 'nosuch'], { env: noWyng });
  assert.equal(r.code, 9);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^Error: unknown command 'nosuch' \(expected one of: create, backup, .*help\)\n$/);
  const j = await runBundle(['help', 'nosuch', '--json'], { env: noWyng });
  assert.equal(j.code, 9);
  const doc = JSON.parse(j.stdout) as { command: string; errors: Array<{ kind: string }> };
  assert.equal(doc.command, 'help');
  assert.equal(doc.errors[0]!.kind, 'option');
});

test('an option another command has: exit 9 naming the commands it is valid with, nothing runs', async () => {
  for (const [argv, message] of [
    [['backup', '--allow-reach', 'all', 'work'], '--allow-reach is only valid with restore'],
    [['--as=copy', 'backup', 'work'], '--as is only valid with restore and remote'],
    [['list', '--last'], '--last is only valid with report'],
    [['verify', '--allow-re=all', 'work'], '--allow-reach is only valid with restore'],
  ] as Array<[string[], string]>) {
    const r = await env.run([...argv, '--dest', env.archiveUrl, '-u', '--json']);
    assert.equal(r.code, 9, argv.join(' '));
    assert.equal(
      r.json!.command,
      argv.find((w) => !w.startsWith('-') && w !== 'copy'),
    );
    assert.equal(r.json!.errors[0]!.message, message);
    assert.deepEqual(r.wyng, [], argv.join(' '));
  }
});

test('0.9 command lines: options before the command, 0.9 prefixes, 0.9 options with any command', async () => {
  // --dest=X list: options before the command word
  const list = await env.run([`--dest=${env.archiveUrl}`, '-u', '--json', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(Object.keys((list.json!.result as { qubes: Record<string, unknown> }).qubes).includes('work'));
  // 0.9 abbreviations before the command: --des, --unat, --dedu; --pr is --pref as in 0.9
  env.fill('work', 'private', 'work-2');
  await new Promise((r) => setTimeout(r, 1100));
  const b = await env.run(['--des', env.archiveUrl, '--unat', '--dedu', '--json', 'backup', 'work']);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(
    b.wyng.some((c) => c.argv.includes('send') && c.argv.includes('-d')),
    'Wyng got -d (--dedup)',
  );
  assert.ok((await listJson(env)).qubes.work!.sessions.includes(backupResult(b).session!));
  // 0.9 accepted --pool with backup (and ignored it): so does wyng-qubes; Wyng never sees it
  await new Promise((r) => setTimeout(r, 1100));
  const pool = await env.run([
    'backup',
    '--pool',
    'x',
    '--pr',
    'label::x',
    '--dest',
    env.archiveUrl,
    '-u',
    '--json',
    'work',
  ]);
  assert.equal(pool.code, 0, pool.stderr);
  assert.ok(pool.wyng.every((c) => !c.argv.some((a) => a.includes('pool') || a.includes('label'))));
});

test("the bundle's built-in help texts are the command table's (help made at build time, issue 17)", async () => {
  // the plain help command lines are answered from texts made when the bundle was built: they must
  // equal what the CLI's own help path prints from the table now (a stale build fails here)
  const { helpText } = await import('../../src/cli/words.ts');
  const overview = await runBundle(['--help']);
  assert.equal(overview.code, 0);
  assert.equal(overview.stdout, helpText());
  assert.equal((await runBundle(['help'])).stdout, helpText());
  for (const command of COMMANDS) {
    for (const argv of [
      ['help', command],
      [command, '--help'],
      ['-h', command],
    ]) {
      const r = await runBundle(argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.equal(r.stdout, helpText(command), argv.join(' '));
    }
  }
  // other forms still go through the CLI: an unknown command, --json, a prefix
  assert.equal((await runBundle(['help', 'nosuch'])).code, 9);
  assert.match((await runBundle(['--help', '--json'])).stdout, /^\{"ok":true,"exitCode":0,"command":"help"/);
  assert.equal((await runBundle(['--he'])).stdout, helpText());
});
