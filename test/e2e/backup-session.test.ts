// backup against the simulator (fake qubesd + fake Wyng, real files): what is selected, what
// Wyng is asked to send, what ends up in the archive (byte for byte, the metadata tar entry by
// entry), what qubesd is told afterwards (backup_timestamp), output and temp files.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import { parseVolumeRecord } from '../../src/core/volume-record.ts';
import { backupResult, byName, listJson, timestampWrites, wyngAction } from '../helpers/backup-env.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

const MiB = 1024 * 1024;
let env: Sandbox;
let client: AdminClient;
let session: string;
const data = new Map<string, Buffer>();
let vaultDirty: Buffer;

/** Tar entries as GNU tar lists them: type letter and path. */
function tarEntries(file: string): Array<{ type: string; path: string }> {
  return execFileSync('tar', ['-tvzf', file], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => ({ type: l[0]!, path: l.split(/\s+/).slice(5).join(' ') }));
}

/** One file of a tgz, as GNU tar extracts it. */
function tarFile(file: string, path: string): Buffer {
  return execFileSync('tar', ['-xzOf', file, path]);
}

/** What `find DIR -type f ( -name '*.xml' -o -name notes.txt )` lists, as ./relative paths. */
function findMetadataFiles(dir: string): string[] {
  return execFileSync('find', ['.', '-type', 'f', '(', '-name', '*.xml', '-o', '-name', 'notes.txt', ')'], {
    cwd: dir,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

before(async () => {
  env = await buildSandbox({ qubesd: { running: ['vault'] }, archive: 'create' });
  client = new AdminClient(new SocketTransport({ socketPath: env.qubesd.socketPath, timeoutMs: 5000 }));
  // a 3 MiB template root in one pool, a 2 MiB private volume in the other, small ones elsewhere
  data.set('fedora-41/root', env.fill('fedora-41', 'root', 'tpl-root', 3 * MiB));
  data.set('fedora-41/private', env.fill('fedora-41', 'private', 'tpl-private', 64 * 1024));
  data.set('work/private', env.fill('work', 'private', 'work-private', 2 * MiB));
  data.set('personal/private', env.fill('personal', 'private', 'personal-private', 64 * 1024));
  data.set('untrusted-standalone/root', env.fill('untrusted-standalone', 'root', 'sa-root', 64 * 1024));
  data.set('untrusted-standalone/private', env.fill('untrusted-standalone', 'private', 'sa-private', 64 * 1024));
  // vault runs: its committed image (private.img) is what Wyng reads, not the live -dirty image
  data.set('vault/private', env.fill('vault', 'private', 'vault-snapshot', 64 * 1024));
  const clean = env.qubesd.volumePath('vault', 'private')!;
  vaultDirty = Buffer.alloc(64 * 1024, 0x5a);
  writeFileSync(clean.replace(/\.img$/, '-dirty.img'), vaultDirty);

  // the Qubes dir: metadata files, and things that must NOT go into the metadata tar
  const q = env.qubesDir;
  mkdirSync(join(q, 'appvms', 'work'), { recursive: true });
  writeFileSync(join(q, 'appvms', 'work', 'notes.txt'), 'work notes\n');
  writeFileSync(join(q, 'appvms', 'work', 'firewall.xml'), '<firewall version="2"><rules/></firewall>\n');
  mkdirSync(join(q, 'deep', 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(q, 'deep', 'a', 'b', 'c', 'settings.xml'), '<deep/>\n');
  writeFileSync(join(q, 'readme.txt'), 'not metadata\n');
  writeFileSync(join(q, 'qubes.xml.orig'), 'not metadata either\n');
  writeFileSync(join(q, 'appvms', 'work', 'notes.txt.bak'), 'old notes\n');
  symlinkSync('/etc/hostname', join(q, 'link-to-file.xml'));
  symlinkSync(join(q, 'appvms'), join(q, 'link-to-dir'));
  symlinkSync('notes-target-missing', join(q, 'appvms', 'notes.txt'));
  execFileSync('mkfifo', [join(q, 'pipe.xml')]);
});

after(async () => {
  await env?.stop();
});

test(
  'backup: -i, --exclude, named, dom0 and unknown names; one send; every byte and the ' + 'metadata in the archive',
  async () => {
    const xmlAtBackup = env.qubesd.dumpQubesXml();
    const r = await env.run([
      'backup',
      '--dest',
      env.archiveUrl,
      '-u',
      '--json',
      '-i',
      '--exclude',
      'work-clone',
      'vault',
      'dom0',
      'no-such-qube',
    ]);
    // a named qube that does not exist is an error (README "Compatibility"); the others are backed up
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(
      r.json!.errors.map((e) => e.qube),
      ['no-such-qube'],
    );
    const result = backupResult(r);
    session = result.session!;
    assert.match(session, /^\d{8}-\d{6}$/);
    const q = byName(result);

    // selection: include_in_backups (default True; vault False but named) minus --exclude
    const selected = [
      'disp-test',
      'fedora-41',
      'fedora-41-dvm',
      'personal',
      'sys-firewall',
      'sys-net',
      'untrusted-standalone',
      'vault',
      'work',
    ];
    assert.deepEqual(
      result.qubes.filter((x) => x.status === 'ok').map((x) => x.name),
      selected,
    );
    assert.deepEqual(
      result.qubes.filter((x) => x.status === 'skipped').map((x) => x.name),
      ['dom0'],
    );
    assert.equal(q['work-clone'], undefined, 'excluded qube is not backed up');
    assert.match(r.stderr, /Skipping dom0/);
    assert.equal(q['no-such-qube']!.status, 'failed');
    assert.match(r.stderr, /no-such-qube: No such qube 'no-such-qube'\./);
    assert.deepEqual(
      result.qubes.map((x) => x.name),
      [...result.qubes.map((x) => x.name)].sort(),
      'result sorted by name',
    );

    // volumes: templates and standalones root + private, app qubes private only, DispVMs none
    assert.deepEqual(q['fedora-41']!.volumes, [
      'vm-templates/fedora-41/private.img',
      'vm-templates/fedora-41/root.img',
    ]);
    assert.deepEqual(q['untrusted-standalone']!.volumes, [
      'appvms/untrusted-standalone/private.img',
      'appvms/untrusted-standalone/root.img',
    ]);
    assert.deepEqual(q.personal!.volumes, ['appvms/personal/private.img']);
    assert.deepEqual(q['fedora-41-dvm']!.volumes, ['appvms/fedora-41-dvm/private.img']);
    assert.deepEqual(q['disp-test']!.volumes, []);

    // the JSON shape
    assert.deepEqual(Object.keys(result).sort(), ['bytesSent', 'qubes', 'seconds', 'session', 'space', 'timing']);
    for (const x of result.qubes) {
      assert.deepEqual(
        Object.keys(x).filter((k) => !['name', 'status', 'volumes', 'error'].includes(k)),
        [],
        x.name,
      );
      assert.equal(x.error === undefined, x.status === 'ok', `${x.name}: error only when not ok`);
    }
    assert.ok(result.seconds > 0 && result.seconds < 60);
    // Wyng prints whole MiB per pool: 3 MiB (+ small volumes) in varlibqubes, 2 MiB in vm-pool
    assert.equal(result.bytesSent, 5 * MiB, 'bytesSent sums every pool summary, in MiB');

    // what Wyng got: one list, then ONE send with the contract argv
    const sends = wyngAction(r.wyng, 'send');
    assert.equal(sends.length, 1, 'one single Wyng send');
    const tmp = r.captured.tmpDir()!;
    assert.ok(tmp.startsWith(`${env.tmpDir}/wyng-qubes-`), `temp dir below TMPDIR: ${tmp}`);
    assert.equal(r.captured.tmpDirMode(), '700');
    const dest = `--dest=${env.archiveUrl}`;
    assert.deepEqual(sends[0]!.argv, [
      dest,
      '-u',
      `--local-from=${tmp}/volumes.json`,
      '--tag=qubes',
      '--send-unchanged',
      `--import-other-from=wyng-qubes-metadata:|:${tmp}/qubes-metadata.tgz`,
      'send',
    ]);
    const root = join(env.dir, 'root');
    assert.deepEqual(r.captured.localFrom(), {
      [join(root, 'var/lib/qubes')]: [
        ['vm-templates/fedora-41/private.img', 'vm-templates/fedora-41/private.img'],
        ['vm-templates/fedora-41/root.img', 'vm-templates/fedora-41/root.img'],
        ['appvms/fedora-41-dvm/private.img', 'appvms/fedora-41-dvm/private.img'],
        ['appvms/personal/private.img', 'appvms/personal/private.img'],
        ['appvms/sys-firewall/private.img', 'appvms/sys-firewall/private.img'],
        ['appvms/sys-net/private.img', 'appvms/sys-net/private.img'],
        ['appvms/untrusted-standalone/private.img', 'appvms/untrusted-standalone/private.img'],
        ['appvms/untrusted-standalone/root.img', 'appvms/untrusted-standalone/root.img'],
        ['appvms/vault/private.img', 'appvms/vault/private.img'],
      ],
      [join(root, 'mnt/vm-pool')]: [['appvms/work/private.img', 'appvms/work/private.img']],
    });
    assert.deepEqual(r.tmpLeft, [], 'the temp dir is gone after the run');

    // running qubes: said so, and their last snapshot (not the live image) is in the archive
    assert.match(r.stderr, /Running qubes are backed up from their last snapshot[^\n]*: vault\n/);
    const vault = await env.receive('appvms/vault/private.img', session);
    assert.equal(Buffer.compare(vault, data.get('vault/private')!), 0, 'vault: the committed image');
    assert.notEqual(Buffer.compare(vault, vaultDirty), 0);

    // every volume comes back with the exact bytes
    const names: Record<string, string> = {
      'fedora-41/root': 'vm-templates/fedora-41/root.img',
      'fedora-41/private': 'vm-templates/fedora-41/private.img',
      'work/private': 'appvms/work/private.img',
      'personal/private': 'appvms/personal/private.img',
      'untrusted-standalone/root': 'appvms/untrusted-standalone/root.img',
      'untrusted-standalone/private': 'appvms/untrusted-standalone/private.img',
    };
    for (const [key, volume] of Object.entries(names)) {
      const got = await env.receive(volume, session);
      assert.equal(Buffer.compare(got, data.get(key)!), 0, `bytes of ${volume}`);
    }

    // the metadata volume is the tar Wyng was given, and holds exactly *.xml + notes.txt files
    const tarCopy = r.captured.metadataTar()!;
    const archived = await env.receive('wyng-qubes-metadata', session);
    assert.equal(Buffer.compare(archived, readFileSync(tarCopy)), 0, 'metadata volume = the tar handed to Wyng');
    const entries = tarEntries(tarCopy);
    assert.deepEqual(
      entries.filter((e) => e.type !== '-'),
      [],
      'regular files only (no dirs, links, FIFOs)',
    );
    const paths = entries.map((e) => e.path).sort();
    assert.deepEqual(
      paths,
      [...findMetadataFiles(env.qubesDir), './wyng-qubes-volumes.xml'].sort(),
      'exactly what find lists, and our volume record',
    );
    // the volume record: each sent volume's usage in its pool (the restore's space pre-flight)
    const record = parseVolumeRecord(tarFile(tarCopy, './wyng-qubes-volumes.xml'), 'record');
    for (const volume of Object.values(names)) assert.ok(record.has(volume), `${volume} is recorded`);
    for (const [volume, recorded] of record) {
      const [, qube, kind] = /^(?:appvms|vm-templates)\/([^/]+)\/(private|root)\.img$/.exec(volume) ?? [];
      assert.ok(qube !== undefined && kind !== undefined, volume);
      assert.equal(recorded, (await client.volumeInfo(qube, kind as 'private' | 'root')).usage, `usage of ${volume}`);
    }
    for (const [key, volume] of Object.entries(names))
      assert.ok(record.get(volume)! >= data.get(key)!.length, `${volume}: the usage counts the data`);
    for (const p of [
      './qubes.xml',
      './appvms/work/notes.txt',
      './appvms/work/firewall.xml',
      './deep/a/b/c/settings.xml',
    ])
      assert.ok(paths.includes(p), p);
    for (const p of paths) assert.ok(p.startsWith('./') && !p.split('/').includes('..'), `relative: ${p}`);
    for (const p of [
      './link-to-file.xml',
      './pipe.xml',
      './readme.txt',
      './qubes.xml.orig',
      './appvms/work/notes.txt.bak',
      './appvms/notes.txt',
    ]) {
      assert.ok(!paths.includes(p), `not in the tar: ${p}`);
    }
    assert.ok(!paths.some((p) => p.startsWith('./link-to-dir/')), 'symlinked dirs are not followed');
    const qubesXml = execFileSync('tar', ['-xzOf', tarCopy, './qubes.xml']);
    assert.equal(qubesXml.toString('utf8'), xmlAtBackup, 'qubes.xml as it was when the backup started');

    // backup_timestamp: every qube that made it (the DispVM has no disp-created-by-dom0 tag here)
    assert.deepEqual(timestampWrites(r.qubesd), selected);
    // Admin API: fewer than 5 reads per qube, and the backup_timestamp writes are the only writes
    const reads = r.qubesd.filter((c) => !c.writes).length;
    assert.ok(reads < 5 * selected.length, `${reads} reads for ${selected.length} qubes`);
    assert.equal(r.qubesd.filter((c) => c.writes).length, selected.length);
    const stamp = Number((await client.getProperty('work', 'backup_timestamp')).value);
    assert.ok(Math.abs(stamp - Date.now() / 1000) < 120, `backup_timestamp is now (${stamp})`);
    assert.equal(
      (await client.getProperty('work-clone', 'backup_timestamp')).isDefault,
      true,
      'excluded qube not stamped',
    );

    // list --json shows the session and its qubes
    const list = await listJson(env);
    assert.deepEqual(
      list.sessions.map((s) => s.id),
      [session],
    );
    assert.deepEqual(list.sessions[0]!.tags, { qubes: '' });
    assert.deepEqual(
      list.sessions[0]!.qubes,
      selected.filter((x) => x !== 'disp-test'),
    );
    for (const x of selected.filter((n) => n !== 'disp-test')) assert.equal(list.qubes[x]?.newest, session, x);
    const listed = await env.run(['list', '--dest', env.archiveUrl, '-u', '--json', '--session', session]);
    assert.equal(listed.code, 0, listed.stderr);
    const sq = (listed.json!.result as { session: { qubes: Array<{ name: string; disposable: boolean }> } }).session
      .qubes;
    assert.deepEqual(
      sq.find((x) => x.name === 'disp-test'),
      { name: 'disp-test', class: 'DispVM', disposable: true, bytes: 0 },
      'the DispVM is in the session metadata (no volumes of its own)',
    );
  },
);

test('selection errors: dom0 only, or everything excluded → exit 9, no Wyng ' + 'send, no writes', async () => {
  for (const args of [
    ['dom0'],
    [
      '-i',
      '--exclude',
      'disp-test',
      '--exclude',
      'fedora-41',
      '--exclude',
      'fedora-41-dvm',
      '--exclude',
      'personal',
      '--exclude',
      'sys-firewall',
      '--exclude',
      'sys-net',
      '--exclude',
      'untrusted-standalone',
      '--exclude',
      'work',
      '--exclude',
      'work-clone',
    ],
  ]) {
    const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', ...args]);
    assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.json!.errors[0]!.kind, 'selection');
    assert.match(r.stderr, /Please supply a list of Qubes VMs to backup/);
    assert.deepEqual(wyngAction(r.wyng, 'send'), []);
    assert.deepEqual(
      r.qubesd.filter((c) => c.writes).map((c) => c.method),
      [],
    );
    assert.deepEqual(r.tmpLeft, []);
  }
});

test('a DispVM alone: nothing Wyng could send → exit 9 before any Wyng send, nothing stamped', async () => {
  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'disp-test']);
  assert.equal(r.code, 9, r.stderr);
  assert.equal(r.json!.errors[0]!.kind, 'selection');
  assert.match(r.stderr, /no volumes/);
  assert.deepEqual(wyngAction(r.wyng, 'send'), []);
  assert.deepEqual(timestampWrites(r.qubesd), []);
});

test(
  'backup_timestamp is never set on qubes tagged disp-created-by-dom0; an unchanged rerun is ' + 'a new session',
  async () => {
    await client.setTag('disp-test', 'disp-created-by-dom0');
    const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'disp-test', 'work']);
    assert.equal(r.code, 0, r.stderr);
    const result = backupResult(r);
    assert.deepEqual(
      result.qubes.map((x) => [x.name, x.status]),
      [
        ['disp-test', 'ok'],
        ['work', 'ok'],
      ],
    );
    assert.deepEqual(timestampWrites(r.qubesd), ['work']);
    assert.notEqual(result.session, session);
    assert.equal(result.bytesSent, 0, 'nothing changed: no data sent');
    const vols = await env.archiveVolumes();
    assert.ok(
      vols['appvms/work/private.img']!.includes(result.session!),
      '--send-unchanged: the unchanged volume is in the new session',
    );
    await client.removeTag('disp-test', 'disp-created-by-dom0');
  },
);

test('--check-after-send runs `--session=newest arch-check` after the send', async () => {
  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', '--check-after-send', 'personal']);
  assert.equal(r.code, 0, r.stderr);
  const actions = r.wyng.map((c) => c.argv[c.argv.length - 1]);
  assert.ok(actions.indexOf('arch-check') > actions.indexOf('send'), actions.join(' '));
  const check = wyngAction(r.wyng, 'arch-check');
  assert.equal(check.length, 1);
  assert.deepEqual(check[0]!.argv, [`--dest=${env.archiveUrl}`, '-u', '--session=newest', 'arch-check']);
  assert.equal(check[0]!.exitCode, 0);
  const without = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'personal']);
  assert.deepEqual(wyngAction(without.wyng, 'arch-check'), [], 'no check without the option');
});

test("a failing --check-after-send: Wyng's exit code, the backup result is still reported", async () => {
  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', '--check-after-send', 'personal'], {
    env: { CAPTURE_FAIL_ARCH_CHECK: 'crash' },
  });
  assert.equal(r.code, 1, r.stderr);
  const result = backupResult(r);
  assert.match(result.session ?? '', /^\d{8}-\d{6}$/);
  assert.deepEqual(
    result.qubes.map((x) => [x.name, x.status]),
    [['personal', 'ok']],
  );
  assert.deepEqual(timestampWrites(r.qubesd), ['personal'], 'the send itself succeeded');
  assert.ok(
    r.json!.errors.some((e) => e.kind === 'wyng' && /arch-check/.test(e.message)),
    JSON.stringify(r.json!.errors),
  );
});

test('--progress=json: JSON-lines events on stderr, one per volume; with --json nothing else interleaves', async () => {
  env.fill('personal', 'private', 'personal-progress', 64 * 1024);
  for (const json of [false, true]) {
    const r = await env.run([
      'backup',
      '--dest',
      env.archiveUrl,
      '-u',
      '--progress=json',
      ...(json ? ['--json'] : []),
      'personal',
      'fedora-41',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    const events = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) assert.match(String(e.time), /^\d{4}-\d\d-\d\dT/);
    const kinds = events.map((e) => e.event);
    assert.deepEqual(
      kinds.filter((k) => k !== 'volume' && k !== 'bytes'),
      ['selected', 'send', 'done'],
      kinds.join(' '),
    );
    // the byte figures: every volume and bytes event, never going back, ending at the total
    const figures = events.filter((e) => e.event === 'volume' || e.event === 'bytes');
    const bytesDone = figures.map((e) => e.bytesDone as number);
    assert.deepEqual(
      [...bytesDone].sort((a, b) => a - b),
      bytesDone,
      bytesDone.join(' '),
    );
    assert.equal(figures.at(-1)!.event, 'bytes');
    assert.ok((figures.at(-1)!.bytesTotal as number) > 0);
    assert.equal(bytesDone.at(-1), figures.at(-1)!.bytesTotal);
    const vols = events.filter((e) => e.event === 'volume').map((e) => e.name);
    // Wyng's order: the metadata import first, then the pool's volumes sorted by name
    assert.deepEqual(vols, [
      'wyng-qubes-metadata',
      'appvms/personal/private.img',
      'vm-templates/fedora-41/private.img',
      'vm-templates/fedora-41/root.img',
    ]);
    assert.deepEqual(
      events.filter((e) => e.event === 'volume').map((e) => [e.index, e.total]),
      [
        [1, 4],
        [2, 4],
        [3, 4],
        [4, 4],
      ],
    );
    const done = events.find((e) => e.event === 'done')!;
    assert.equal(done.ok, true);
    if (json) {
      // stdout is the JSON document alone; Wyng's raw progress (`[|||`) is not mixed into stderr
      assert.equal(backupResult(r).session, done.session);
      assert.ok(!/\[\|/.test(r.stderr), 'no raw Wyng progress bars on stderr');
      for (const l of lines) assert.ok(!l.includes('{') || l.startsWith('{'), `no JSON glued to other text: ${l}`);
    } else {
      assert.match(r.stdout, /Sending backup session \d{8}-\d{6}:/, "Wyng's progress passes through on stdout");
      assert.match(r.stdout, /Session \d{8}-\d{6}: 2 qube\(s\), 4 volume\(s\)/);
    }
  }
  // without --progress there are no events
  const quiet = await env.run(['backup', '--dest', env.archiveUrl, '-u', 'personal']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.ok(!quiet.stderr.split('\n').some((l) => l.startsWith('{')), quiet.stderr);
});

test('extra tags (-w tag=…), --autoprune, --remap and -d reach the one send in the contract order', async () => {
  const r = await env.run([
    'backup',
    '--dest',
    env.archiveUrl,
    '-u',
    '--json',
    '-w',
    'tag=nightly,Nightly backup',
    '--autoprune=on',
    '--remap',
    '-d',
    'personal',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const tmp = r.captured.tmpDir()!;
  assert.deepEqual(wyngAction(r.wyng, 'send')[0]!.argv, [
    `--dest=${env.archiveUrl}`,
    '-u',
    '--tag=nightly,Nightly backup',
    `--local-from=${tmp}/volumes.json`,
    '--tag=qubes',
    '--send-unchanged',
    '--autoprune=on',
    '--remap',
    '-d',
    `--import-other-from=wyng-qubes-metadata:|:${tmp}/qubes-metadata.tgz`,
    'send',
  ]);
  const session = backupResult(r).session!;
  const list = await listJson(env);
  assert.deepEqual(list.sessions.find((s) => s.id === session)?.tags, { nightly: 'Nightly backup', qubes: '' });
});
