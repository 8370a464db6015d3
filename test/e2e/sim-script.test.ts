// `npm run sim` (scripts/sim.ts): starts the simulator, prints the environment to paste, stays
// up until Ctrl-C and cleans up. A newcomer's session: eval the printed lines in a shell, then
// `wyng-qubes list` and `backup` from another directory (the built bundle: npm run build first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.ts';

const run = promisify(execFile);

test('npm run sim: its exports let wyng-qubes list and back up from any directory; Ctrl-C cleans up', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'sim.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('# Ctrl-C')) res();
    });
    child.on('close', () => rej(new Error(`sim exited early: ${stderr}`)));
  });
  try {
    const lines = stdout.split('\n').filter((l) => l !== '');
    assert.ok(
      lines.every((l) => l.startsWith('#') || l.startsWith('export ')),
      'only exports and comments',
    );
    const dir = /simulator: a fake qubesd and the fake Wyng in (\S+)/.exec(stdout)![1]!;
    assert.ok(existsSync(dir));
    const elsewhere = mkdtempSync(join(tmpdir(), 'wq-newcomer-'));
    const session = async (cmds: string): Promise<string> =>
      (
        await run('bash', ['--noprofile', '--norc', '-c', `set -e\neval "$SIM"\ncd '${elsewhere}'\n${cmds}`], {
          env: { PATH: process.env.PATH, HOME: process.env.HOME, SIM: stdout },
        })
      ).stdout;
    // a new, empty archive: list says so (exit 1, as wyng-util-qubes)
    const empty = await session('wyng-qubes list --dest "$WQ_DEST" 2>&1 || echo "exit $?"');
    assert.match(empty, /No Qubes backup sessions\.\nexit 1\n$/);
    const backup = JSON.parse(await session('wyng-qubes backup --dest "$WQ_DEST" -u work personal --json')) as {
      ok: boolean;
      result: { session: string; qubes: Array<{ name: string; status: string }> };
    };
    assert.equal(backup.ok, true);
    assert.deepEqual(backup.result.qubes.map((q) => `${q.name}:${q.status}`).sort(), ['personal:ok', 'work:ok']);
    const listed = JSON.parse(await session('wyng-qubes list --dest "$WQ_DEST" --json')) as {
      ok: boolean;
      result: { qubes: Record<string, { newest: string }> };
    };
    assert.equal(listed.ok, true);
    assert.equal(listed.result.qubes.work?.newest, backup.result.session);
    const text = await session('wyng-qubes list --dest "$WQ_DEST"');
    assert.match(text, new RegExp(`${backup.result.session}\\s+work`));
    // the profile it prints about
    const byProfile = JSON.parse(await session('wyng-qubes backup --profile sim -u --json')) as { ok: boolean };
    assert.equal(byProfile.ok, true);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.equal(existsSync(dir), false, 'temp dir removed');
    assert.match(stderr, /simulator stopped/);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
});
