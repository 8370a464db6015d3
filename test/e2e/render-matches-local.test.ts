// The renderers `remote` prints with (src/cli/render.ts) rebuild, from a command's JSON result,
// the text the local command printed: one run with --json gives both (the text goes to stderr).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { renderBackup, renderList, renderRestore, renderVerify } from '../../src/cli/render.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let sim: Sandbox;
let session: string;

before(async () => {
  sim = await buildSandbox();
  const c = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u']);
  assert.equal(c.code, 0, c.stderr);
});

after(async () => {
  await sim.stop();
});

const contains = (text: string, lines: string[]): void => {
  const block = lines.map((l) => `${l}\n`).join('');
  assert.ok(text.includes(block), `expected\n${block}\nin\n${text}`);
};

test('backup: the closing line', async () => {
  const r = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', 'work', 'personal', 'fedora-41', '--json']);
  assert.equal(r.code, 0, r.stderr);
  session = (r.json!.result as { session: string }).session;
  contains(r.stderr, renderBackup(r.json!.result));
});

test('list: overview, named qubes, one session', async () => {
  for (const args of [[], ['work'], ['--session', session]]) {
    const r = await sim.run(['list', '--dest', sim.archiveUrl, ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const qubes = args[0] === 'work' ? ['work'] : [];
    contains(r.stderr, renderList(r.json!.result, { qubes, session: args[0] === '--session' ? session : undefined }));
  }
});

test('restore: the plan of a dry run, the closing line of a restore', async () => {
  const dry = await sim.run([
    'restore',
    '--allow-reach=all',
    '--dest',
    sim.archiveUrl,
    '--session',
    session,
    '--dry-run',
    'work',
    '--json',
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  contains(dry.stderr, renderRestore(dry.json!.result));
  const real = await sim.run([
    'restore',
    '--allow-reach=all',
    '--dest',
    sim.archiveUrl,
    '--session',
    session,
    '-u',
    'work',
    '--json',
  ]);
  assert.equal(real.code, 0, real.stderr);
  contains(real.stderr, renderRestore(real.json!.result));
});

test('verify: the qubes matched', async () => {
  const r = await sim.run(['verify', '--dest', sim.archiveUrl, '--session', session, 'work', '--json']);
  assert.equal(r.code, 0, r.stderr);
  contains(r.stderr, renderVerify(r.json!.result));
});
