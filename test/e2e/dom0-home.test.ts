// dom0's home in a session (issue 19 §2) against the simulator: `backup --dom0-home` stores the
// user's home (caches and links left out) as its own volume next to the metadata; `list` shows
// it; `restore --dom0-home` extracts it into ~/home-restore-SESSION, never over the live home,
// and refuses a second time; over rpc a profile's dom0_home never makes a restore extract it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSandbox } from '../helpers/sim.ts';

test('backup --dom0-home, list, restore --dom0-home into ~/home-restore-SESSION', { timeout: 120_000 }, async () => {
  const sim = await buildSandbox();
  try {
    const homeRoot = join(sim.dir, 'home');
    const home = join(homeRoot, 'alice');
    mkdirSync(join(home, 'docs', 'deep'), { recursive: true });
    mkdirSync(join(home, '.cache', 'thumbs'), { recursive: true });
    writeFileSync(join(home, 'docs', 'plan.txt'), 'the plan\n');
    writeFileSync(join(home, 'docs', 'deep', 'notes.md'), '# notes\n');
    writeFileSync(join(home, '.bashrc'), 'alias ll="ls -l"\n');
    writeFileSync(join(home, '.cache', 'thumbs', 'big.bin'), Buffer.alloc(64 * 1024, 1));
    symlinkSync('/etc/passwd', join(home, 'passwd-link'));
    const groups = join(sim.dir, 'group');
    writeFileSync(groups, 'wheel:x:10:root\n');
    const env = { ...sim.env, WYNG_QUBES_HOME_ROOT: homeRoot, WYNG_QUBES_GROUP_FILE: groups };
    const run = (args: string[], extra: Record<string, string> = {}) => sim.cli(args, { env: { ...env, ...extra } });
    assert.equal((await run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u'])).code, 0);

    const noUser = await run(['backup', '--dest', sim.archiveUrl, '-u', '--dom0-home', 'work']);
    assert.equal(noUser.code, 9);
    assert.match(noUser.stderr, /whose home\?/);

    const b = await run(['backup', '--dest', sim.archiveUrl, '-u', '--json', '--dom0-home', 'work'], {
      SUDO_USER: 'alice',
    });
    // without sudo: the Qubes GUI user, the first member of group qubes
    writeFileSync(groups, 'wheel:x:10:root\nqubes:x:1000:alice,bob\n');
    const viaGroup = await run(['backup', '--dest', sim.archiveUrl, '-u', '--json', '--dom0-home', 'work']);
    assert.equal(viaGroup.code, 0, viaGroup.stderr);
    const first = JSON.parse(b.stdout).result as { session: string; dom0Home: Record<string, unknown> };
    assert.deepEqual(first.dom0Home, { user: 'alice', entries: 5, stored: true });
    const result = JSON.parse(viaGroup.stdout).result as { session: string; dom0Home: Record<string, unknown> };
    assert.deepEqual(result.dom0Home, { user: 'alice', entries: 5, stored: true });
    const session = result.session;
    assert.equal(b.code, 0, b.stderr);

    const list = await run(['list', '--dest', sim.archiveUrl, '-u', '--json']);
    assert.deepEqual(JSON.parse(list.stdout).result.dom0Home, [first.session, session]);
    const human = await run(['list', '--dest', sim.archiveUrl, '-u']);
    assert.match(human.stdout, new RegExp(`dom0 home \\(restore --dom0-home\\): ${first.session}, ${session}`));

    writeFileSync(join(home, 'docs', 'plan.txt'), 'changed today\n');
    const r = await run(['restore', '--dest', sim.archiveUrl, '-u', '--json', '--dom0-home', '--dom0-user', 'alice']);
    assert.equal(r.code, 0, r.stderr);
    const out = join(home, `home-restore-${session}`);
    assert.equal(JSON.parse(r.stdout).result.directory, out);
    assert.equal(readFileSync(join(out, 'docs', 'plan.txt'), 'utf8'), 'the plan\n');
    assert.equal(readFileSync(join(out, 'docs', 'deep', 'notes.md'), 'utf8'), '# notes\n');
    assert.equal(readFileSync(join(out, '.bashrc'), 'utf8'), 'alias ll="ls -l"\n');
    assert.ok(!existsSync(join(out, '.cache')), 'caches are left out');
    assert.ok(!existsSync(join(out, 'passwd-link')), 'links are never stored');
    assert.equal(readFileSync(join(home, 'docs', 'plan.txt'), 'utf8'), 'changed today\n', 'the live home is untouched');

    const again = await run(['restore', '--dest', sim.archiveUrl, '-u', '--dom0-home', '--dom0-user', 'alice']);
    assert.equal(again.code, 9);
    assert.match(again.stderr, /exists already/);
    const withQubes = await run([
      'restore',
      '--dest',
      sim.archiveUrl,
      '-u',
      '--dom0-home',
      '--dom0-user',
      'alice',
      'work',
    ]);
    assert.equal(withQubes.code, 9);
    assert.deepEqual(readdirSync(home).sort(), ['.bashrc', '.cache', 'docs', `home-restore-${session}`, 'passwd-link']);
  } finally {
    await sim.stop();
  }
});
