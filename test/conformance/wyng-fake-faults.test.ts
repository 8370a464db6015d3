/**
 * The Wyng test double's switches (see test/fakes/README.md): each WYNG_FAKE_* variable and
 * fault does what it says, the lock and signals behave like Wyng's, and the archive really
 * keeps the bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statfsSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FAKE_WYNG, runFake, waitFor, type FakeRun } from './wyng-fake-run.ts';
import { FAKE_WYNG_LOOSE } from '../helpers/cli.ts';

const VOLS = ['appvms/work/private.img', 'vm-templates/tpl/root.img'];
const MD = 'wyng-qubes-metadata';

interface Lab {
  dir: string;
  pool: string;
  archive: string;
  dest: string;
  lock: string;
  localFrom: string;
  tar: string;
  env: Record<string, string | undefined>;
  wyng: (args: string[], extra?: { env?: Record<string, string | undefined>; stdin?: string }) => Promise<FakeRun>;
  send: (extra?: { env?: Record<string, string | undefined>; pre?: string[] }) => Promise<FakeRun>;
  list: (extra?: { env?: Record<string, string | undefined> }) => Promise<ListDoc>;
}

interface ListDoc {
  volumes: Record<string, { last: string; sessions: Record<string, { chg: boolean; tags: Record<string, string> }> }>;
}

function parseList(stdout: string): ListDoc {
  return JSON.parse(stdout.slice(stdout.indexOf('\n{') + 1)) as ListDoc;
}

/** A fresh pool with two small volumes, an archive, its own lock and fake home. */
async function lab(opts: { encrypted?: boolean } = {}): Promise<Lab> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'wq-fake-faults-')));
  const pool = join(dir, 'pool');
  for (const v of VOLS) {
    mkdirSync(join(pool, v, '..'), { recursive: true });
    const data = Buffer.alloc(1 << 20);
    randomBytes(70_000).copy(data, 123_456);
    writeFileSync(join(pool, v), data);
  }
  const archive = join(dir, 'archive');
  const dest = `file:${archive}`;
  const lock = join(dir, 'wyng.lock');
  const localFrom = join(dir, 'vols.json');
  writeFileSync(localFrom, JSON.stringify({ [pool]: VOLS.map((v) => [v, v]) }));
  const tar = join(dir, 'meta.tgz');
  writeFileSync(tar, randomBytes(300));
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: 'UTC',
    WYNG_FAKE_LOCK: lock,
    WYNG_FAKE_HOME: join(dir, 'home'),
    ...FAKE_WYNG_LOOSE,
  };
  const wyng: Lab['wyng'] = (args, extra = {}) =>
    runFake([`--dest=${dest}`, '-u', ...args], { env: { ...env, ...extra.env }, cwd: dir, stdin: extra.stdin });
  // each send gets its own second (a second send in the same second fails, as with Wyng)
  let clock = Date.UTC(2031, 0, 1) / 1000;
  const nextSecond = (): string => String((clock += 10));
  const l: Lab = {
    dir,
    pool,
    archive,
    dest,
    lock,
    localFrom,
    tar,
    env,
    wyng,
    send: (extra = {}) =>
      wyng(
        [
          ...(extra.pre ?? []),
          `--local-from=${localFrom}`,
          '--tag=qubes',
          '--send-unchanged',
          `--import-other-from=${MD}:|:${tar}`,
          'send',
        ],
        {
          ...extra,
          env: { WYNG_FAKE_NOW: nextSecond(), ...extra.env },
        },
      ),
    list: async (extra = {}) => {
      const r = await wyng(['--json', 'list'], extra);
      assert.equal(r.code, 0, r.stderr);
      return parseList(r.stdout);
    },
  };
  const init = await wyng(opts.encrypted ? ['--passcmd=printenv PASS', 'arch-init'] : ['--encrypt=off', 'arch-init'], {
    env: { PASS: 'correct horse battery staple' },
  });
  assert.equal(init.code, 0, init.stderr);
  return l;
}

const sessionsOf = (doc: ListDoc, vol: string): string[] => Object.keys(doc.volumes[vol]?.sessions ?? {});

test('WYNG_FAKE_LOG: one JSON line per invocation (argv, cwd, exit code); none when not called', async () => {
  const l = await lab();
  const log = join(l.dir, 'calls.jsonl');
  assert.equal(existsSync(log), false);
  await l.wyng(['--json', 'list'], { env: { WYNG_FAKE_LOG: log } });
  await l.wyng(['--no-such-option', 'list'], { env: { WYNG_FAKE_LOG: log } });
  await runFake(['version'], { env: { ...l.env, WYNG_FAKE_LOG: log } });
  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((x) => JSON.parse(x) as { argv: string[]; cwd: string; exitCode: number });
  assert.deepEqual(
    lines.map((x) => x.exitCode),
    [0, 2, 0],
  );
  assert.deepEqual(lines[0]!.argv, [`--dest=${l.dest}`, '-u', '--json', 'list']);
  assert.equal(lines[0]!.cwd, l.dir);
  rmSync(l.dir, { recursive: true, force: true });
});

test('send, list, receive: the bytes sent come back; sessions named from WYNG_FAKE_NOW', async () => {
  const l = await lab();
  const s = await l.send({ env: { WYNG_FAKE_NOW: '2030-01-02T03:04:05Z' } });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /Sending backup session 20300102-030405:/);
  // same second again: Wyng crashes ("Duplicate session name") and sends nothing…
  const dup = await l.send({ env: { WYNG_FAKE_NOW: String(Date.UTC(2030, 0, 2, 3, 4, 5) / 1000) } });
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /\nValueError: Duplicate session name\n$/);
  // …unless WYNG_FAKE_SESSION_BUMP=1: then the session is named one second later
  const s2 = await l.send({ env: { WYNG_FAKE_NOW: '2030-01-02T03:04:05Z', WYNG_FAKE_SESSION_BUMP: '1' } });
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stdout, /Sending backup session 20300102-030406:/);
  const doc = await l.list();
  assert.deepEqual(sessionsOf(doc, VOLS[0]!), ['S_20300102-030405', 'S_20300102-030406']);
  assert.equal(doc.volumes[VOLS[0]!]!.sessions['S_20300102-030406']!.chg, false);
  const original = readFileSync(join(l.pool, VOLS[0]!));
  writeFileSync(join(l.pool, VOLS[0]!), randomBytes(1 << 20));
  const r = await l.wyng([
    '--force',
    '--sparse-write',
    `--local-from=${l.localFrom}`,
    '--session=20300102-030405',
    'receive',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(l.pool, VOLS[0]!)).equals(original));
  const saved = join(l.dir, 'meta-back.tgz');
  const m = await l.wyng(['--quiet', `--save-to=${saved}`, '--session=20300102-030406', 'receive', MD]);
  assert.equal(m.code, 0, m.stderr);
  assert.equal(m.stdout, '');
  assert.ok(readFileSync(saved).equals(readFileSync(l.tar)));
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_FAIL=send-volume:NAME: that volume fails, exit 2, .error file, the others are sent', async () => {
  const l = await lab();
  const r = await l.send({ env: { WYNG_FAKE_FAIL: `send-volume:${VOLS[1]}` } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`\\nError on volumes: ${VOLS[1]}\\n$`));
  assert.equal(readFileSync(`${l.localFrom}.error`, 'utf8'), `{"rc": 2, "volumes": ["${VOLS[1]}"]}`);
  const doc = await l.list();
  assert.equal(sessionsOf(doc, VOLS[0]!).length, 1);
  assert.equal(sessionsOf(doc, MD).length, 1);
  assert.equal(sessionsOf(doc, VOLS[1]!).length, 0);
  // Wyng never deletes a stale .error file
  const ok = await l.send();
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(existsSync(`${l.localFrom}.error`));
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_FAIL=receive-volume:NAME and verify-volume:NAME: exit 2 and .error naming the volume', async () => {
  const l = await lab();
  assert.equal((await l.send()).code, 0);
  const recv = await l.wyng(['--force', '--sparse-write', `--local-from=${l.localFrom}`, 'receive'], {
    env: { WYNG_FAKE_FAIL: `receive-volume:${VOLS[0]}` },
  });
  assert.equal(recv.code, 2);
  assert.equal(readFileSync(`${l.localFrom}.error`, 'utf8'), `{"rc": 2, "volumes": ["${VOLS[0]}"]}`);
  const volsFrom = join(l.dir, 'verify.json');
  writeFileSync(volsFrom, JSON.stringify({ null: VOLS.map((v) => [v, '']) }));
  const ver = await l.wyng([`--vols-from=${volsFrom}`, 'verify', ...VOLS], {
    env: { WYNG_FAKE_FAIL: `verify-volume:${VOLS[1]}` },
  });
  assert.equal(ver.code, 2);
  assert.match(ver.stderr, /Error on volumes: vm-templates\/tpl\/root.img/);
  assert.equal(readFileSync(`${volsFrom}.error`, 'utf8'), `{"rc": 2, "volumes": ["${VOLS[1]}"]}`);
  const good = await l.wyng([`--vols-from=${volsFrom}`, 'verify', ...VOLS]);
  assert.equal(good.code, 0, good.stderr);
  rmSync(l.dir, { recursive: true, force: true });
});

test("WYNG_FAKE_FAIL=auth, storage5, storage6, storage7, crash: Wyng's exit codes and messages", async () => {
  const l = await lab();
  const auth = await l.wyng(['--json', 'list'], { env: { WYNG_FAKE_FAIL: 'auth' } });
  assert.equal(auth.code, 3);
  assert.equal(auth.stdout, 'Wyng 0.8 rc4 release 20251028\n');
  assert.equal(auth.stderr, '\nAuthenticationError: Could not decrypt/authenticate archive.\n\n');
  const s5 = await l.wyng(['--json', 'list'], { env: { WYNG_FAKE_FAIL: 'storage5' } });
  assert.equal(s5.code, 5);
  assert.match(s5.stderr, /StorageError: Destination not ready to receive commands\./);
  const s6 = await l.wyng(['--json', 'list'], { env: { WYNG_FAKE_FAIL: 'storage6' } });
  assert.equal(s6.code, 6);
  assert.match(s6.stderr, /StorageError: Archive not found at 'file:/);
  const s7 = await l.send({ env: { WYNG_FAKE_FAIL: 'storage7' } });
  assert.equal(s7.code, 7);
  assert.match(s7.stderr, /StorageError: Filesystem Generation IDs differ\./);
  const crash = await l.wyng(['--json', 'list'], { env: { WYNG_FAKE_FAIL: 'crash' } });
  assert.equal(crash.code, 1);
  assert.match(crash.stderr, /^Traceback \(most recent call last\):\n[\s\S]*\nRuntimeError: .+\n$/);
  assert.ok(crash.stdout.endsWith('\n\n'));
  assert.equal(sessionsOf(await l.list(), MD).length, 0, 'nothing was sent by the failed runs');
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_FAIL=interrupt-after:N: exit 8 after N committed volumes; next run updates the cache', async () => {
  const l = await lab();
  const r = await l.send({ env: { WYNG_FAKE_FAIL: 'interrupt-after:1' } });
  assert.equal(r.code, 8);
  assert.equal(r.stderr, '\n*** Interrupt.\n');
  const after = await l.wyng(['--json', 'list']);
  assert.match(after.stdout, /^Wyng 0\.8 rc4 release 20251028\nUpdating metadata cache\.\n/);
  const doc = parseList(after.stdout);
  assert.deepEqual(Object.keys(doc.volumes).sort(), [...VOLS, MD].sort(), 'all volumes were created');
  assert.equal(sessionsOf(doc, MD).length, 1, 'the metadata volume (sent first) is committed');
  for (const v of VOLS) assert.equal(doc.volumes[v]!.last, 'None');
  const again = await l.send();
  assert.equal(again.code, 0, again.stderr);
  for (const v of VOLS) assert.equal(sessionsOf(await l.list(), v).length, 1);
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_FAIL=hang holds the lock: a second one exits 1, version works, SIGINT ends it (8)', async () => {
  const l = await lab();
  const other = realpathSync(mkdtempSync(join(tmpdir(), 'wq-fake-other-')));
  let hung: FakeRun | undefined;
  const hanging = runFake([`--dest=${l.dest}`, '-u', '--json', 'list'], {
    env: { ...l.env, WYNG_FAKE_FAIL: 'hang' },
    during: async (child, out) => {
      await waitFor(() => out.stdout().includes('Wyng 0.8') && existsSync(l.lock), 20_000, 'the lock');
      const second = await runFake([`--dest=file:${other}`, '-u', '--json', 'list'], { env: l.env });
      assert.equal(second.code, 1);
      assert.equal(second.stdout, 'Wyng 0.8 rc4 release 20251028\n');
      assert.equal(second.stderr, `I/O ERROR obtaining lock on ${l.lock}\n`);
      const version = await runFake(['version'], { env: l.env });
      assert.equal(version.code, 0);
      child.kill('SIGINT');
    },
  }).then((r) => (hung = r));
  await hanging;
  assert.equal(hung?.code, 8);
  assert.equal(hung?.stderr, '\n*** Interrupt.\n');
  assert.equal(existsSync(l.lock), false, 'lock released');
  assert.equal((await l.wyng(['--json', 'list'])).code, 0);
  rmSync(other, { recursive: true, force: true });
  rmSync(l.dir, { recursive: true, force: true });
});

test('SIGTERM kills the fake like Wyng (no handler), the lock is free; a stale lock is taken over', async () => {
  const l = await lab();
  const r = await runFake([`--dest=${l.dest}`, '-u', '--json', 'list'], {
    env: { ...l.env, WYNG_FAKE_FAIL: 'hang' },
    during: async (child) => {
      await waitFor(() => existsSync(l.lock), 20_000, 'the lock');
      child.kill('SIGTERM');
    },
  });
  assert.equal(r.signal, 'SIGTERM');
  assert.equal(existsSync(l.lock), false);
  writeFileSync(l.lock, '999999999\n'); // a pid that does not run
  assert.equal((await l.wyng(['--json', 'list'])).code, 0);
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_DELAY_MS slows each volume; SIGINT mid-send: exit 8, finished volumes stay committed', async () => {
  const l = await lab();
  const r = await runFake(
    [`--dest=${l.dest}`, '-u', `--local-from=${l.localFrom}`, `--import-other-from=${MD}:|:${l.tar}`, 'send'],
    {
      env: { ...l.env, WYNG_FAKE_DELAY_MS: '400' },
      during: async (child, out) => {
        await waitFor(() => out.stdout().includes(`Volume '${VOLS[0]}'`), 20_000, 'the second volume');
        child.kill('SIGINT');
      },
    },
  );
  assert.equal(r.code, 8);
  assert.equal(r.stderr, '\n*** Interrupt.\n');
  const doc = await l.list();
  assert.equal(sessionsOf(doc, MD).length, 1);
  assert.equal(sessionsOf(doc, VOLS[0]!).length, 0);
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_FAIL=nonroot: write commands refused before the banner (9), others lack the lock (1)', async () => {
  const l = await lab();
  const send = await l.send({ env: { WYNG_FAKE_FAIL: 'nonroot' } });
  assert.equal(send.code, 9);
  assert.equal(send.stdout, '');
  assert.equal(send.stderr, '\nOptionError: Must be root/admin user for send.\n\n');
  const list = await l.wyng(['--json', 'list'], { env: { WYNG_FAKE_FAIL: 'nonroot' } });
  assert.equal(list.code, 1);
  assert.equal(list.stderr, `ERROR: No writing permission on ${l.lock}\n`);
  rmSync(l.dir, { recursive: true, force: true });
});

test('send needs a Btrfs subvolume root (WYNG_FAKE_ANY_POOL=1 loosens); no-snapshot:PATH refuses one', async () => {
  const l = await lab();
  const r = await l.send({ env: { WYNG_FAKE_FAIL: `no-snapshot:${l.pool}` } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`Error, Local not a subvolume or no snapshot feature: \\(file\\) ${l.pool}/\\n`));
  assert.equal(
    readFileSync(`${l.localFrom}.error`, 'utf8'),
    `{"rc": 2, "volumes": ${JSON.stringify(VOLS).replace(',', ', ')}}`,
  );
  assert.equal(sessionsOf(await l.list(), MD).length, 0);
  rmSync(`${l.localFrom}.error`);
  // without the loosening switch: Wyng's own rule (the lab's pool is a temp directory)
  const btrfsRoot = statfsSync(l.pool).type === 0x9123683e && statSync(l.pool).ino === 256;
  const b = await l.send({ env: { WYNG_FAKE_ANY_POOL: undefined } });
  assert.equal(b.code, btrfsRoot ? 0 : 2, b.stderr);
  if (!btrfsRoot) {
    assert.equal(
      b.stderr,
      `\nError, Local not a subvolume or no snapshot feature: (file) ${l.pool}/\n\n` +
        `Error on volumes: ${VOLS.join(', ')}\n`,
    );
    assert.equal(sessionsOf(await l.list(), MD).length, 0);
  }
  rmSync(l.dir, { recursive: true, force: true });
});

test('write commands need root, as for Wyng (WYNG_FAKE_ALLOW_NONROOT=1 loosens)', async () => {
  // a normal user: this test's own user, or user nobody (65534) when the test runs as root; then
  // from a copy of the fake that nobody can read wherever the checkout is
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'wq-nonroot-'));
  let fake = FAKE_WYNG;
  if (asRoot) {
    chmodSync(dir, 0o755);
    fake = join(dir, 'wyng');
    cpSync(FAKE_WYNG, fake);
    cpSync(join(FAKE_WYNG, '..', 'wyng-impl'), join(dir, 'wyng-impl'), { recursive: true });
  }
  const run = (env: Record<string, string>): ReturnType<typeof spawnSync> =>
    spawnSync(
      asRoot ? 'setpriv' : process.execPath,
      [
        ...(asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : []),
        fake,
        '--dest=file:/nonexistent/archive',
        '-u',
        'send',
        'appvms/work/private.img',
      ],
      { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', cwd: dir },
    );
  const strict = run({});
  assert.equal(strict.status, 9, String(strict.stderr));
  assert.equal(strict.stdout, '');
  assert.equal(strict.stderr, '\nOptionError: Must be root/admin user for send.\n\n');
  // loosened: past the root check; the next error is the missing archive (a normal user cannot create it)
  const lock = join(tmpdir(), `wq-nonroot-${process.pid}.lock`);
  const loose = run({ WYNG_FAKE_ALLOW_NONROOT: '1', WYNG_FAKE_LOCK: lock });
  rmSync(lock, { force: true });
  assert.equal(loose.status, 6, String(loose.stderr));
  assert.equal(loose.stderr, "\nStorageError: Path '/nonexistent/archive' not found.\n\n");
  rmSync(dir, { recursive: true, force: true });
});

test('bad WYNG_FAKE_* settings are refused with exit 1 and nothing else happens', async () => {
  const l = await lab();
  for (const env of [
    { WYNG_FAKE_FAIL: 'explode' },
    { WYNG_FAKE_FAIL: 'send-volume' },
    { WYNG_FAKE_DELAY_MS: 'soon' },
    { WYNG_FAKE_NOW: 'yesterday-ish' },
  ]) {
    const r = await l.send({ env });
    assert.equal(r.code, 1, JSON.stringify(env));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Wyng test double: /);
  }
  assert.equal(sessionsOf(await l.list(), MD).length, 0);
  rmSync(l.dir, { recursive: true, force: true });
});

test('WYNG_FAKE_STDIN_TTY=1: attended mode asks before delete and reads the answer from stdin', async () => {
  const l = await lab();
  assert.equal((await l.send()).code, 0);
  const no = await runFake([`--dest=${l.dest}`, 'delete', VOLS[0]!], {
    env: { ...l.env, WYNG_FAKE_STDIN_TTY: '1' },
    stdin: 'n\n',
  });
  assert.equal(no.code, 0);
  assert.equal(no.stderr, 'Are you sure? [y/N]: ');
  assert.match(no.stdout, /Warning! Delete will remove ALL metadata AND archived data for volume/);
  assert.ok((await l.list()).volumes[VOLS[0]!]);
  const yes = await runFake([`--dest=${l.dest}`, 'delete', VOLS[0]!], {
    env: { ...l.env, WYNG_FAKE_STDIN_TTY: '1' },
    stdin: 'y\n',
  });
  assert.equal(yes.code, 0, yes.stderr);
  assert.equal((await l.list()).volumes[VOLS[0]!], undefined);
  rmSync(l.dir, { recursive: true, force: true });
});

test('encrypted archive: passphrase by --passcmd or stdin, wrong one exit 3, key agent, COLUMNS', async () => {
  const l = await lab({ encrypted: true });
  const good = { PASS: 'correct horse battery staple' };
  const bad = { PASS: 'not the right passphrase' };
  const wrong = await l.wyng(['--passcmd=printenv PASS', '--json', 'list'], { env: bad });
  assert.equal(wrong.code, 3);
  assert.match(wrong.stderr, /AuthenticationError: Could not decrypt\/authenticate archive\./);
  const short = await l.wyng(['--passcmd=printenv PASS', '--json', 'list'], { env: { PASS: 'short' } });
  assert.equal(short.code, 9);
  const stdin = await l.wyng(['--authmin=0', '--json', 'list'], { stdin: 'correct horse battery staple\n' });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(stdin.stderr, 'Enter passphrase: \n');
  assert.match(stdin.stdout, /"encrypted": true, "is_auth": true/);
  const none = await l.wyng(['--json', 'list']);
  assert.equal(none.code, 3, 'no agent after --authmin=0');
  assert.match(none.stderr, /No authentication input\./);
  assert.equal((await l.wyng(['--passcmd=printenv PASS', '--json', 'list'], { env: good })).code, 0);
  // the agent now holds the keys: no passphrase needed, a wrong one is not even asked for
  assert.equal((await l.wyng(['--json', 'list'])).code, 0);
  assert.equal((await l.wyng(['--passcmd=printenv PASS', '--json', 'list'], { env: bad })).code, 0);
  assert.equal(
    (await l.wyng(['--json', 'list'], { env: { COLUMNS: '80' } })).code,
    3,
    'a small COLUMNS hides the agent',
  );
  assert.equal((await l.wyng(['--authmin=-1', '--json', 'list'])).code, 0, 'last use of the agent');
  assert.equal((await l.wyng(['--json', 'list'])).code, 3, 'agent stopped');
  rmSync(l.dir, { recursive: true, force: true });
});

test('verify and arch-check really check the stored data: a damaged chunk is a traceback, exit 1', async () => {
  const l = await lab();
  assert.equal((await l.send()).code, 0);
  const chunks = join(l.archive, 'chunks');
  const sub = readdirSync(chunks)[0]!;
  const file = join(chunks, sub, readdirSync(join(chunks, sub))[0]!);
  writeFileSync(file, Buffer.concat([readFileSync(file).subarray(1), Buffer.from([0])]));
  const v = await l.wyng(['--all', 'verify']);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /\nValueError: Bad hash at x[0-9a-f]{16} :: [0-9a-f]{64}\n$/);
  const c = await l.wyng(['arch-check']);
  assert.equal(c.code, 1);
  rmSync(l.dir, { recursive: true, force: true });
});

test('all output reaches a reader that falls behind: the fake exits only once it is written', async () => {
  const l = await lab();
  // a verbose verify of a 1 GiB volume prints one progress update per 256 KiB chunk: more than a
  // pipe holds (64 KiB)
  const big = 'appvms/big/private.img';
  mkdirSync(join(l.pool, 'appvms', 'big'), { recursive: true });
  writeFileSync(join(l.pool, big), '');
  truncateSync(join(l.pool, big), 1 << 30);
  const bigFrom = join(l.dir, 'big.json');
  writeFileSync(bigFrom, JSON.stringify({ [l.pool]: [[big, big]] }));
  const sent = await l.wyng([`--local-from=${bigFrom}`, `--import-other-from=${MD}:|:${l.tar}`, 'send'], {
    env: { WYNG_FAKE_NOW: '2031-06-01T00:00:00Z' },
  });
  assert.equal(sent.code, 0, sent.stderr);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(l.env)) if (v !== undefined) env[k] = v;
  const child = spawn(FAKE_WYNG, [`--dest=${l.dest}`, '-u', '--verbose', 'verify', big], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // read nothing for a while, as a busy reader would
  child.stdout.pause();
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  await new Promise((r) => setTimeout(r, 1500));
  child.stdout.resume();
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  const out = Buffer.concat(chunks).toString('utf8');
  assert.equal(code, 0);
  assert.ok(out.length > 65536, `${out.length} bytes: enough to fill a pipe`);
  assert.match(out, /\r\[\|{20}\] 100% : OK {2}Data bytes: 0 \/ 1073741824\n$/);
  rmSync(l.dir, { recursive: true, force: true });
});

test('the fake runs as an executable with plain node (shebang, mode 755, no node_modules)', async () => {
  assert.ok((statSync(FAKE_WYNG).mode & 0o755) === 0o755);
  assert.match(readFileSync(FAKE_WYNG, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'wq-fake-bare-')));
  const r = await new Promise<number | null>((resolve) => {
    const c = spawn(process.execPath, [FAKE_WYNG, 'version'], {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin' },
      stdio: 'ignore',
    });
    c.on('close', resolve);
  });
  assert.equal(r, 0);
  rmSync(dir, { recursive: true, force: true });
});
