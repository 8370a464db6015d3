// Issue 16 (the CLI a careful user trusts) against the simulator: dry runs that change nothing and say
// what would happen, a named qube that does not exist, a damaged archive named per qube, prune's own
// errors and its cancelled prompt.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import { FAKE_WYNG } from '../helpers/cli.ts';
import { backupResult, byName, listJson, wyngAction } from '../helpers/backup-env.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let env: Sandbox;
const QUBES = ['fedora-41', 'personal', 'work'];
let first = '';
let second = '';

before(async () => {
  env = await buildSandbox({ archive: 'create' });
  env.fill('fedora-41', 'root', 'tpl-root');
  env.fill('fedora-41', 'private', 'tpl-private');
  env.fill('personal', 'private', 'personal');
  env.fill('work', 'private', 'work');
  const a = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', ...QUBES]);
  assert.equal(a.code, 0, a.stderr);
  first = backupResult(a).session!;
  env.fill('work', 'private', 'work-2');
  await new Promise((r) => setTimeout(r, 1100));
  const b = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', ...QUBES]);
  assert.equal(b.code, 0, b.stderr);
  second = backupResult(b).session!;
});

after(async () => {
  await env?.stop();
});

const dest = (): string[] => ['--dest', env.archiveUrl, '-u'];

test('delete --dry-run lists every session of the qube with sizes and removes nothing', async () => {
  const before = await env.archiveVolumes();
  const r = await env.run(['delete', ...dest(), '--dry-run', '--json', 'work']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await env.archiveVolumes(), before, 'archive unchanged');
  assert.equal(r.wyng.filter((c) => c.argv.includes('delete')).length, 0, 'Wyng delete never ran');
  const res = r.json!.result as {
    dryRun: boolean;
    deleted: string[];
    wouldDelete: Array<{ volume: string; sessions: Array<{ id: string; bytes: number }>; bytes: number }>;
  };
  assert.equal(res.dryRun, true);
  assert.deepEqual(res.deleted, []);
  assert.deepEqual(
    res.wouldDelete.map((v) => [v.volume, v.sessions.map((s) => s.id)]),
    [['appvms/work/private.img', before['appvms/work/private.img']]],
  );
  assert.ok(
    res.wouldDelete[0]!.sessions.every((s) => s.bytes === 256 * 1024),
    JSON.stringify(res.wouldDelete),
  );
  assert.equal(res.wouldDelete[0]!.bytes, 2 * 256 * 1024);
  assert.match(r.stderr, /appvms\/work\/private\.img \(work\): 2 session\(s\), 0\.5 MiB/);
});

test('prune --dry-run lists the sessions Wyng would remove (never the newest) and removes nothing', async () => {
  const before = await env.archiveVolumes();
  const r = await env.run(['prune', ...dest(), '--dry-run', '--json', `--session=${first}`, 'work', 'personal']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await env.archiveVolumes(), before, 'archive unchanged');
  assert.equal(r.wyng.filter((c) => c.argv.includes('prune')).length, 0, 'Wyng prune never ran');
  const res = r.json!.result as {
    dryRun: boolean;
    wouldRemove: Array<{ volume: string; sessions: Array<{ id: string }> }>;
  };
  assert.equal(res.dryRun, true);
  assert.deepEqual(
    res.wouldRemove.map((v) => [v.volume, v.sessions.map((s) => s.id)]),
    [
      ['appvms/personal/private.img', [first]],
      ['appvms/work/private.img', [first]],
    ],
  );
  // the newest session is kept, as Wyng keeps it
  const newest = await env.run(['prune', ...dest(), '--dry-run', '--json', `--session=${second}`, 'work']);
  assert.deepEqual((newest.json!.result as { wouldRemove: unknown[] }).wouldRemove, []);
});

test('backup --dry-run lists qubes, volumes and an estimate, and sends nothing', async () => {
  const before = await env.archiveVolumes();
  const r = await env.run(['backup', ...dest(), '--dry-run', '--json', 'work', 'sys-firewall']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(wyngAction(r.wyng, 'send').length, 0, 'Wyng send never ran');
  assert.deepEqual(await env.archiveVolumes(), before, 'no session made');
  assert.equal(
    r.qubesd.filter((c) => c.method.startsWith('admin.vm.feature.Set') || c.method.includes('Set')).length,
    0,
    'no backup_timestamp written',
  );
  const res = r.json!.result as {
    dryRun: boolean;
    volumes: Array<{ qube: string; volume: string; incremental: boolean; bytes: number }>;
    estimate: { firstSendBytes: number; incrementalVolumes: number; method: string };
  };
  assert.equal(res.dryRun, true);
  assert.deepEqual(
    res.volumes.map((v) => [v.qube, v.incremental]),
    [
      ['sys-firewall', false],
      ['work', true],
    ],
  );
  const fw = res.volumes.find((v) => v.qube === 'sys-firewall')!;
  assert.equal(res.estimate.firstSendBytes, fw.bytes);
  assert.equal(res.estimate.incrementalVolumes, 1);
  assert.match(r.stderr, /Dry run: backup would send/);
});

test('create --dry-run says what it would create and creates nothing', async () => {
  const target = join(env.dir, 'new-archive');
  const r = await env.run(['create', '--dest', `file:${target}`, '-u', '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(target), false);
  assert.equal(r.wyng.length, 0);
  assert.deepEqual((r.json!.result as { dryRun: boolean }).dryRun, true);
  assert.match(r.stderr, /create would make a new encrypted Wyng archive at file:/);
});

test('commands without a dry run refuse --dry-run with exit 9 and run nothing', async () => {
  for (const argv of [
    ['verify', ...dest(), '--dry-run', '--json', 'work'],
    ['schedule', 'list', '--dry-run', '--json'],
    ['prune', ...dest(), '--dry-run', '--json', '--autoprune=on', 'work'],
  ]) {
    const r = await env.run(argv);
    assert.equal(r.code, 9, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.json!.errors[0]!.kind, 'option');
    assert.equal(r.wyng.length, 0, argv.join(' '));
  }
});

test('backing up a named qube that does not exist is an error; the others are still backed up', async () => {
  const r = await env.run(['backup', ...dest(), '--json', 'work', 'nonexist']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.json!.ok, false);
  assert.deepEqual(
    r.json!.errors.map((e) => e.qube),
    ['nonexist'],
  );
  const q = byName(backupResult(r));
  assert.equal(q.work!.status, 'ok');
  assert.equal(q.nonexist!.status, 'failed');
  assert.ok((await env.archiveVolumes())['appvms/work/private.img']!.includes(backupResult(r).session!));
  assert.match(r.stderr, /Error for VMs: nonexist/);
});

test('a damaged archive: verify names the damaged qube, the others verify ok', async () => {
  const state = JSON.parse(readFileSync(join(env.archiveUrl.slice(5), 'wyng-fake.json'), 'utf8')) as {
    volumes: Array<{ name: string; vid: string }>;
  };
  const latest = (await listJson(env)).qubes.personal!.newest;
  const vid = state.volumes.find((v) => v.name === 'appvms/personal/private.img')!.vid;
  const manifest = readFileSync(join(env.archiveUrl.slice(5), vid, `S_${latest}`, 'manifest'), 'utf8');
  const hash = manifest
    .split('\n')
    .find((l) => /^[0-9a-f]{64}/.test(l))!
    .slice(0, 64);
  const chunk = join(env.archiveUrl.slice(5), 'chunks', hash.slice(0, 2), hash);
  const good = readFileSync(chunk);
  writeFileSync(chunk, Buffer.concat([Buffer.from('damaged'), good.subarray(7)]));
  try {
    const r = await env.run(['verify', ...dest(), '--json', `--session=${latest}`, 'personal', 'work'], {
      env: { WYNG_QUBES_WYNG: FAKE_WYNG },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(
      r.json!.errors.map((e) => e.qube),
      ['personal'],
      r.stderr,
    );
    const res = r.json!.result as { qubes: Array<{ name: string; status: string }> };
    assert.deepEqual(
      res.qubes.map((q) => [q.name, q.status]),
      [
        ['personal', 'failed'],
        ['work', 'ok'],
      ],
    );
  } finally {
    writeFileSync(chunk, good);
  }
});

test('prune --session without qubes or --all: our own error (exit 9), Wyng never runs', async () => {
  const r = await env.run(['prune', ...dest(), '--json', `--session=${first}`]);
  assert.equal(r.code, 9, r.stderr);
  assert.match(r.json!.errors[0]!.message, /prune needs the qubes .* or --all/);
  assert.doesNotMatch(r.stderr, /Volume name\(s\) or --all required/);
  assert.equal(r.wyng.length, 0);
});

test("prune --profile P --autoprune on without qubes prunes the profile's qubes (Wyng gets volume names)", async () => {
  const etc = env.configDir;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(etc, { recursive: true });
  writeFileSync(
    join(etc, 'profiles.yaml'),
    `profiles:\n  p:\n    dest: ${env.archiveUrl}\n    qubes: [work]\n  empty:\n    dest: ${env.archiveUrl}\n`,
  );
  // the fake Wyng itself (the capture wrapper takes the last argument for the action)
  const wyng = { env: { WYNG_QUBES_WYNG: FAKE_WYNG } };
  const r = await env.run(['prune', '--profile', 'p', '-u', '--autoprune=on', '--json'], wyng);
  assert.equal(r.code, 0, r.stderr);
  const call = r.wyng.find((c) => c.argv.includes('prune'))!;
  assert.deepEqual(call.argv.slice(call.argv.indexOf('prune') + 1), ['appvms/work/private.img']);
  const none = await env.run(['prune', '--profile', 'empty', '-u', '--autoprune=on', '--json'], wyng);
  assert.equal(none.code, 9, none.stderr);
  assert.match(none.json!.errors[0]!.message, /profile 'empty' names no qubes/);
  assert.equal(none.wyng.filter((c) => c.argv.includes('prune')).length, 0);
});

test('dry runs leave the temp dir empty', () => {
  assert.deepEqual(readdirSync(env.tmpDir), []);
});

test('list --all lists every session of every qube with sizes; list --all work only work', async () => {
  const all = await env.run(['list', ...dest(), '--all']);
  assert.equal(all.code, 0, all.stderr);
  assert.doesNotMatch(all.stdout, /Archived Qubes VMs/);
  const sessions = await listJson(env);
  for (const q of QUBES) {
    const lines = sessions.qubes[q]!.sessions.map((s) => `${s}  [0-9.]+ KiB`).join('\n');
    assert.match(all.stdout, new RegExp(`\n${q}:\n${lines}\n`), all.stdout);
  }
  const work = await env.run(['list', ...dest(), '--all', '--json', 'work']);
  assert.equal(work.code, 0, work.stderr);
  const res = work.json!.result as {
    qubes: Record<string, { bytes: number; sessionBytes: Record<string, number> }>;
    sessions: Array<{ bytes: number }>;
  };
  assert.deepEqual(Object.keys(res.qubes), ['work']);
  assert.equal(res.qubes.work!.bytes, 256 * 1024);
  assert.ok(Object.values(res.qubes.work!.sessionBytes).every((b) => b === 256 * 1024));
  assert.ok(res.sessions.every((s) => s.bytes > 0));
  assert.doesNotMatch(work.stderr, /\npersonal:/);
  assert.match(work.stderr, /\nwork:\n\d{8}-\d{6} {2}256\.0 KiB\n/);
});

test('an interrupted backup names the session written, its qubes and the command that finishes', async () => {
  // the metadata and one more volume are sent, then Wyng is interrupted (exit 8)
  const r = await env.run(['backup', ...dest(), '--json', ...QUBES], {
    env: { CAPTURE_FAIL_SEND: 'interrupt-after:3' },
  });
  assert.equal(r.code, 8, r.stderr);
  const m = /Interrupted: session (\d{8}-\d{6}) was already written with (\d) of 3 qube\(s\)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  // complete: every volume of the qube is in that session (fedora-41 has two)
  const vols = await env.archiveVolumes();
  const inSession = QUBES.filter((q) =>
    Object.entries(vols)
      .filter(([v]) => v.includes(`/${q}/`))
      .every(([, sessions]) => sessions.includes(m[1]!)),
  );
  assert.equal(Number(m[2]), inSession.length);
  const rest = QUBES.filter((q) => !inSession.includes(q));
  assert.ok(rest.length > 0);
  const finish = `To finish: wyng-qubes backup --dest ${env.archiveUrl} ${rest.join(' ')}`;
  assert.ok(r.stderr.includes(finish), r.stderr);
});

/** The `--progress=json` events of a run: the stderr lines that are JSON objects (human text is there too). */
function events(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{"time":'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('--progress=json: backup, verify and restore print events; selected.qubes is an array', async () => {
  const b = await env.run(['backup', ...dest(), '--json', '--progress=json', 'work', 'personal']);
  assert.equal(b.code, 0, b.stderr);
  const be = events(b.stderr);
  assert.deepEqual(be.find((e) => e.event === 'selected')!.qubes, ['personal', 'work']);
  const session = backupResult(b).session!;

  const fake = { env: { WYNG_QUBES_WYNG: FAKE_WYNG } };
  const v = await env.run(['verify', ...dest(), '--json', '--progress=json', `--session=${session}`, 'work'], fake);
  assert.equal(v.code, 0, v.stderr);
  const ve = events(v.stderr);
  assert.deepEqual(
    ve.map((e) => e.event),
    ['selected', 'volume', 'bytes', 'done'],
  );
  assert.deepEqual(ve[0]!.qubes, ['work']);
  assert.deepEqual([ve[1]!.name, ve[1]!.index, ve[1]!.total], ['appvms/work/private.img', 1, 1]);
  assert.equal(ve[1]!.bytesDone, 0);
  assert.ok((ve[2]!.bytesTotal as number) > 0);
  assert.equal(ve[2]!.bytesDone, ve[2]!.bytesTotal);
  assert.equal(ve[3]!.ok, true);

  const r = await env.run(
    ['restore', '--allow-reach=all', ...dest(), '--json', '--progress=json', `--session=${session}`, 'work'],
    fake,
  );
  assert.equal(r.code, 0, r.stderr);
  const re = events(r.stderr);
  assert.deepEqual(re.find((e) => e.event === 'selected')!.qubes, ['work']);
  assert.deepEqual(
    re.filter((e) => e.event === 'volume').map((e) => e.name),
    ['appvms/work/private.img'],
  );
  assert.equal(re.at(-1)!.event, 'done');
});

test('a missing post-restore program is reported as "not found", not as a failed exit', async () => {
  const session = (await listJson(env)).qubes.work!.newest;
  // a menu setting differs from the backup, so the restore changes work and runs its post step
  const c = new AdminClient(new SocketTransport({ socketPath: env.qubesd.socketPath, timeoutMs: 10_000 }));
  await c.setProperty('work', 'label', 'purple');
  const fake = { env: { WYNG_QUBES_WYNG: FAKE_WYNG } };
  const r = await env.run(['restore', '--allow-reach=all', ...dest(), '--json', `--session=${session}`, 'work'], fake);
  const text = `${r.stderr}\n${JSON.stringify(r.json)}`;
  assert.match(text, /qvm-appmenus --update work: (qvm-appmenus|sudo) not found/);
  assert.doesNotMatch(text, /qvm-appmenus --update work failed/);
});

test('two backups queued on the job lock both succeed, in sessions of different seconds', async () => {
  const [a, b] = await Promise.all([
    env.run(['backup', ...dest(), '--json', 'work']),
    env.run(['backup', ...dest(), '--json', 'personal']),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.notEqual(backupResult(a).session, backupResult(b).session);
});
