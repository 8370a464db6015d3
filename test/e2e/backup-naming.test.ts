// Volume naming on backup: lvm_thin (`vm-NAME-private`, pool path VG/THINPOOL) next to
// file-reflink (`appvms/NAME/private.img`), auto-rename when the archive only knows the other
// format's name (and --no-auto-rename), pools of other drivers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backupResult, byName, listJson, timestampWrites, wyngAction } from '../helpers/backup-env.ts';
import { buildSandbox, SCENARIO_QUBES_XML, type Sandbox } from '../helpers/sim.ts';

/**
 * The lab scenario plus an lvm_thin pool holding personal's private volume and a `file`-driver
 * pool (not handled by Wyng/wyng-util-qubes) holding sys-net's private volume.
 */
function mixedPoolsXml(): string {
  let xml = readFileSync(SCENARIO_QUBES_XML, 'utf8');
  xml = xml.replace(
    '</pools>',
    '  <pool name="lvm" driver="lvm_thin" volume_group="qubes_dom0" thin_pool="vm-pool" ' +
      'revisions_to_keep="2" ephemeral_volatile="False"/>\n' +
      '    <pool name="legacy" dir_path="/var/lib/qubes-legacy" driver="file" ' +
      'revisions_to_keep="1" ephemeral_volatile="False"/>\n  </pools>',
  );
  xml = xml.replace(
    'name="private" pool="varlibqubes" vid="appvms/personal/private"',
    'name="private" pool="lvm" vid="qubes_dom0/vm-personal-private"',
  );
  xml = xml.replace(
    'name="private" pool="varlibqubes" vid="appvms/sys-net/private"',
    'name="private" pool="legacy" vid="appvms/sys-net/private"',
  );
  assert.match(xml, /vid="qubes_dom0\/vm-personal-private"/);
  assert.match(xml, /pool="legacy" vid="appvms\/sys-net\/private"/);
  return xml;
}

let env: Sandbox;
/** Where the fake Wyng finds LVM volumes: it resolves the pool path `qubes_dom0/vm-pool` against its cwd. */
let lvmCwd: string;
let personal: Buffer;

function pattern(seed: string, size = 128 * 1024): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 64 <= size; i += 64) b.write(`${seed}:${i};`, i);
  return b;
}

before(async () => {
  env = await buildSandbox({ qubesd: { qubesXml: mixedPoolsXml() }, archive: 'create' });
  lvmCwd = join(env.dir, 'lvm-dev');
  mkdirSync(join(lvmCwd, 'qubes_dom0', 'vm-pool'), { recursive: true });
  personal = pattern('personal-lvm');
  writeFileSync(join(lvmCwd, 'qubes_dom0', 'vm-pool', 'vm-personal-private'), personal);
});

after(async () => {
  await env?.stop();
});

test('mixed pools: lvm_thin volumes as vm-NAME-private under VG/THINPOOL, reflink ones as VID.img', async () => {
  const work = env.fill('work', 'private', 'work-reflink', 128 * 1024);
  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'personal', 'work', 'fedora-41'], {
    cwd: lvmCwd,
  });
  assert.equal(r.code, 0, r.stderr);
  const result = backupResult(r);
  const q = byName(result);
  assert.deepEqual(q.personal, { name: 'personal', status: 'ok', volumes: ['vm-personal-private'] });
  assert.deepEqual(q.work, { name: 'work', status: 'ok', volumes: ['appvms/work/private.img'] });
  const root = join(env.dir, 'root');
  assert.deepEqual(r.captured.localFrom(), {
    [join(root, 'var/lib/qubes')]: [
      ['vm-templates/fedora-41/private.img', 'vm-templates/fedora-41/private.img'],
      ['vm-templates/fedora-41/root.img', 'vm-templates/fedora-41/root.img'],
    ],
    'qubes_dom0/vm-pool': [['vm-personal-private', 'vm-personal-private']],
    [join(root, 'mnt/vm-pool')]: [['appvms/work/private.img', 'appvms/work/private.img']],
  });
  const s = result.session!;
  assert.equal(Buffer.compare(await env.receive('vm-personal-private', s), personal), 0);
  assert.equal(Buffer.compare(await env.receive('appvms/work/private.img', s), work), 0);
  const list = await listJson(env);
  assert.deepEqual(
    list.sessions.find((x) => x.id === s)?.qubes,
    ['fedora-41', 'personal', 'work'],
    'both naming schemes name their qube',
  );
});

test('pools of other drivers: the volume is reported and skipped, that qube fails, the rest is backed up', async () => {
  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'sys-net', 'work'], { cwd: lvmCwd });
  assert.equal(r.code, 2, r.stderr);
  const q = byName(backupResult(r));
  assert.equal(q['sys-net']!.status, 'failed');
  assert.match(q['sys-net']!.error!, /pool 'legacy' \(file\) is not lvm_thin or file-reflink/);
  assert.deepEqual(q.work, { name: 'work', status: 'ok', volumes: ['appvms/work/private.img'] });
  assert.match(r.stderr, /Skipping private volume of sys-net/);
  assert.match(r.stderr, /Error for VMs: sys-net\n/);
  const sent = Object.values(r.captured.localFrom()!)
    .flat()
    .map(([a]) => a);
  assert.deepEqual(sent, ['appvms/work/private.img'], 'the skipped volume is not handed to Wyng');
  assert.deepEqual(timestampWrites(r.qubesd), ['work']);
});

test('auto-rename: an archive that holds vm-work-private while work lives in a reflink pool', async () => {
  // an older backup made from LVM: the fake Wyng sends a file named vm-work-private directly
  const oldLvm = join(env.dir, 'old-lvm');
  mkdirSync(oldLvm, { recursive: true });
  const old = pattern('work-as-lvm', 192 * 1024);
  writeFileSync(join(oldLvm, 'vm-work-private'), old);
  const lf = join(env.dir, 'old-lvm.json');
  writeFileSync(lf, JSON.stringify({ [oldLvm]: [['vm-work-private', '']] }));
  const pre = await env.fakeWyng([`--local-from=${lf}`, '--tag=qubes', 'send']);
  assert.equal(pre.code, 0, pre.stderr);
  const before = await env.archiveVolumes();
  const oldSession = before['vm-work-private']![0]!;
  // the newest work backup so far used the reflink name: remove that volume so only the LVM name is archived
  const del = await env.fakeWyng(['--quiet', 'delete', 'appvms/work/private.img']);
  assert.equal(del.code, 0, del.stderr);

  const now = env.fill('work', 'private', 'work-now', 192 * 1024);
  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'work']);
  assert.equal(r.code, 0, r.stderr);
  const result = backupResult(r);
  // Wyng gets [archived name, local name]: it renames the archive volume and sends on top of it
  assert.deepEqual(r.captured.localFrom(), {
    [join(env.dir, 'root', 'mnt/vm-pool')]: [['vm-work-private', 'appvms/work/private.img']],
  });
  assert.match(r.stderr, /Auto-rename: archive volume 'vm-work-private' becomes 'appvms\/work\/private.img'/);
  const after = await env.archiveVolumes();
  assert.equal(after['vm-work-private'], undefined, 'the LVM-named volume was renamed');
  assert.deepEqual(
    after['appvms/work/private.img'],
    [oldSession, result.session],
    'the old session continues under the new name',
  );
  assert.deepEqual(
    byName(result).work,
    { name: 'work', status: 'ok', volumes: ['appvms/work/private.img'] },
    'the result names the volume as the archive now does',
  );
  assert.equal(Buffer.compare(await env.receive('appvms/work/private.img', result.session!), now), 0);
  assert.equal(Buffer.compare(await env.receive('appvms/work/private.img', oldSession), old), 0);
});

test('--no-auto-rename: the reflink name is sent as a new volume, the LVM-named one stays', async () => {
  const oldLvm = join(env.dir, 'old-lvm2');
  mkdirSync(oldLvm, { recursive: true });
  writeFileSync(join(oldLvm, 'vm-work-private'), pattern('work-as-lvm-2'));
  const lf = join(env.dir, 'old-lvm2.json');
  writeFileSync(lf, JSON.stringify({ [oldLvm]: [['vm-work-private', '']] }));
  assert.equal((await env.fakeWyng([`--local-from=${lf}`, '--tag=qubes', 'send'])).code, 0);
  assert.equal((await env.fakeWyng(['--quiet', 'delete', 'appvms/work/private.img'])).code, 0);

  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', '--no-auto-rename', 'work']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.captured.localFrom(), {
    [join(env.dir, 'root', 'mnt/vm-pool')]: [['appvms/work/private.img', 'appvms/work/private.img']],
  });
  assert.doesNotMatch(r.stderr, /Auto-rename/);
  const vols = await env.archiveVolumes();
  assert.ok(vols['vm-work-private'], 'the LVM-named volume is kept');
  assert.deepEqual(vols['appvms/work/private.img'], [backupResult(r).session], 'a new volume with one session');
});

test('auto-rename the other way: an lvm_thin qube whose archive only has the reflink name', async () => {
  // personal's private volume was backed up from a reflink pool earlier (name appvms/personal/private.img)
  const oldReflink = join(env.dir, 'old-reflink');
  mkdirSync(join(oldReflink, 'appvms', 'personal'), { recursive: true });
  writeFileSync(join(oldReflink, 'appvms', 'personal', 'private.img'), pattern('personal-reflink'));
  const lf = join(env.dir, 'old-reflink.json');
  writeFileSync(lf, JSON.stringify({ [oldReflink]: [['appvms/personal/private.img', '']] }));
  assert.equal((await env.fakeWyng([`--local-from=${lf}`, '--tag=qubes', 'send'])).code, 0);
  assert.equal((await env.fakeWyng(['--quiet', 'delete', 'vm-personal-private'])).code, 0);

  const r = await env.run(['backup', '--dest', env.archiveUrl, '-u', '--json', 'personal'], { cwd: lvmCwd });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.captured.localFrom(), {
    'qubes_dom0/vm-pool': [['appvms/personal/private.img', 'vm-personal-private']],
  });
  const vols = await env.archiveVolumes();
  assert.equal(vols['appvms/personal/private.img'], undefined);
  assert.equal(vols['vm-personal-private']!.at(-1), backupResult(r).session);
  assert.deepEqual(byName(backupResult(r)).personal!.volumes, ['vm-personal-private']);
  assert.equal(Buffer.compare(await env.receive('vm-personal-private', backupResult(r).session!), personal), 0);
  assert.equal(wyngAction(r.wyng, 'send').length, 1);
});
