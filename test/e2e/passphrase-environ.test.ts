// Issue 14 §4: the archive passphrase never sits in a process environment or argv. A backup of
// an encrypted archive runs (slowed down) while every process of the machine we can read is
// scanned, repeatedly, for the passphrase in /proc/PID/environ and /proc/PID/cmdline; the fake
// Wyng also leaves a detached key-agent process with Wyng's whole environment, as Wyng does.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backupResult } from '../helpers/backup-env.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let env: Sandbox;
const secret = `pp-${randomBytes(12).toString('hex')}`;

before(async () => {
  env = await buildSandbox();
  const configDir = env.configDir;
  mkdirSync(configDir, { recursive: true });
  const passFile = join(configDir, 'enc.pass');
  writeFileSync(passFile, `${secret}\n`, { mode: 0o600 });
  const file = join(configDir, 'profiles.yaml');
  writeFileSync(
    file,
    [
      'profiles:',
      '  enc:',
      `    dest: "file:${join(env.dir, 'encrypted-archive')}"`,
      `    passphrase_file: ${passFile}`,
      '    qubes: [work, personal]',
      '    options: { authmin: 1 }',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o600);
});

after(async () => {
  // the fake's agent processes end once their agent file is gone
  rmSync(join(env.env.WYNG_FAKE_HOME!, 'agents'), { recursive: true, force: true });
  await env.stop();
});

interface Seen {
  pid: number;
  cmdline: string;
}

/** Every readable process: cmdline, and whether environ or cmdline holds the secret. */
function scan(hits: Seen[], seen: Map<number, string>): void {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline: string;
    let environ: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1');
      environ = readFileSync(`/proc/${name}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    const pid = Number(name);
    seen.set(pid, cmdline.replaceAll('\0', ' '));
    if (cmdline.includes(secret) || environ.includes(secret)) hits.push({ pid, cmdline: seen.get(pid)! });
  }
}

test('the passphrase is in no environ and no cmdline of any process during an encrypted backup', async () => {
  const extra = { CAPTURE_DELAY_SEND: '400', WYNG_FAKE_AGENT_PROCESS: '30' };
  const created = await env.run(['create', '--profile', 'enc', '-u', '--json'], { env: extra });
  assert.equal(created.code, 0, created.stderr);

  const hits: Seen[] = [];
  const seen = new Map<number, string>();
  let running = true;
  const scanner = (async () => {
    while (running) {
      scan(hits, seen);
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  const r = await env.run(['backup', '--profile', 'enc', '-u', '--json'], { env: extra });
  scan(hits, seen);
  running = false;
  await scanner;

  assert.equal(r.code, 0, r.stderr);
  assert.equal(backupResult(r).qubes.filter((q) => q.status === 'ok').length, 2);
  // the scan did see the processes that matter, so an empty hit list means something
  const cmdlines = [...seen.values()];
  assert.ok(
    cmdlines.some((c) => c.includes('/fakes/wyng') && c.includes(' send')),
    'saw Wyng sending',
  );
  assert.ok(
    cmdlines.some((c) => c.includes('wyng_agent.py')),
    'saw the key agent process',
  );
  assert.ok(
    cmdlines.some((c) => c.includes('--passcmd=') && !c.includes(secret)),
    'Wyng got a --passcmd',
  );
  assert.deepEqual(hits, []);
  // the one-shot FIFO directories are gone
  assert.deepEqual(r.tmpLeft, []);
});

test('the same passphrase opens the archive again (the FIFO hands over exactly the passphrase)', async () => {
  rmSync(join(env.env.WYNG_FAKE_HOME!, 'agents'), { recursive: true, force: true });
  const r = await env.run(['list', '--profile', 'enc', '-u', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const wrong = join(env.configDir, 'enc.pass');
  writeFileSync(wrong, 'a wrong passphrase here\n', { mode: 0o600 });
  rmSync(join(env.env.WYNG_FAKE_HOME!, 'agents'), { recursive: true, force: true });
  const bad = await env.run(['list', '--profile', 'enc', '-u', '--json']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /authenticat/i);
  writeFileSync(wrong, `${secret}\n`, { mode: 0o600 });
});
