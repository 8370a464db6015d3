import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  planBackupVolumes,
  selectForBackup,
  sessionIdAt,
  waitPastSession,
  type WyngPool,
} from '../../src/core/backup/plan.ts';
import { sessionFromSendOutput, sentMegabytes } from '../../src/adapters/wyng/output.ts';
import { buildMetadataTar } from '../../src/adapters/metadata/build.ts';
import { readMetadataTar } from '../../src/adapters/metadata/safe-tar.ts';

const live = [
  { name: 'dom0', klass: 'AdminVM', includeInBackups: true },
  { name: 'work', klass: 'AppVM', includeInBackups: true },
  { name: 'personal', klass: 'AppVM', includeInBackups: false },
  { name: 'fedora-41', klass: 'TemplateVM', includeInBackups: true },
  { name: 'disp1', klass: 'DispVM', includeInBackups: false },
];

test('selection: named ∪ includes − exclude, sorted; dom0 and unknown skipped', () => {
  assert.deepEqual(selectForBackup(live, ['personal', 'nope', 'dom0'], false, []), {
    selected: ['personal'],
    skipped: [
      { name: 'dom0', reason: 'dom0 is not backed up' },
      { name: 'nope', reason: 'no such qube' },
    ],
  });
  assert.deepEqual(selectForBackup(live, [], true, ['work']).selected, ['fedora-41']);
  assert.deepEqual(selectForBackup(live, ['disp1'], true, []).selected, ['disp1', 'fedora-41', 'work']);
});

const pools = new Map<string, WyngPool>([
  ['lvm', { name: 'lvm', driver: 'lvm_thin', volumeGroup: 'qubes_dom0', thinPool: 'vm-pool' }],
  ['reflink', { name: 'reflink', driver: 'file-reflink', dirPath: '/var/lib/qubes' }],
  ['kernel', { name: 'kernel', driver: 'linux-kernel' }],
]);

test('volumes: private for all, root for templates; both pool formats; others skipped', () => {
  const plan = planBackupVolumes(
    [
      { name: 'work', klass: 'AppVM', volumes: { private: { pool: 'lvm', vid: 'qubes_dom0/vm-work-private' } } },
      {
        name: 'fedora-41',
        klass: 'TemplateVM',
        volumes: {
          private: { pool: 'reflink', vid: 'vm-templates/fedora-41/private' },
          root: { pool: 'reflink', vid: 'vm-templates/fedora-41/root' },
        },
      },
      { name: 'odd', klass: 'AppVM', volumes: { private: { pool: 'kernel', vid: 'x' } } },
      { name: 'disp1', klass: 'DispVM', volumes: {} },
    ],
    pools,
    new Set(),
    false,
  );
  assert.deepEqual(plan.localFrom, {
    'qubes_dom0/vm-pool': [['vm-work-private', 'vm-work-private']],
    '/var/lib/qubes': [
      ['vm-templates/fedora-41/private.img', 'vm-templates/fedora-41/private.img'],
      ['vm-templates/fedora-41/root.img', 'vm-templates/fedora-41/root.img'],
    ],
  });
  assert.equal(plan.skipped.length, 1);
  assert.match(plan.skipped[0]!.reason, /linux-kernel/);
});

test('auto-rename: send under the archived other-format name unless --no-auto-rename', () => {
  const qubes = [
    { name: 'work', klass: 'AppVM', volumes: { private: { pool: 'lvm', vid: 'qubes_dom0/vm-work-private' } } },
  ];
  const archived = new Set(['appvms/work/private.img']);
  const renamed = planBackupVolumes(qubes, pools, archived, false);
  assert.deepEqual(renamed.localFrom['qubes_dom0/vm-pool'], [['appvms/work/private.img', 'vm-work-private']]);
  assert.equal(renamed.volumes[0]?.renamedFrom, 'appvms/work/private.img');
  const plain = planBackupVolumes(qubes, pools, archived, true);
  assert.deepEqual(plain.localFrom['qubes_dom0/vm-pool'], [['vm-work-private', 'vm-work-private']]);
  const tpl = [
    {
      name: 't',
      klass: 'TemplateVM',
      volumes: {
        root: { pool: 'reflink', vid: 'vm-templates/t/root' },
        private: { pool: 'reflink', vid: 'vm-templates/t/private' },
      },
    },
  ];
  const r2 = planBackupVolumes(tpl, pools, new Set(['vm-t-root']), false);
  assert.deepEqual(r2.localFrom['/var/lib/qubes'], [
    ['vm-templates/t/private.img', 'vm-templates/t/private.img'],
    ['vm-t-root', 'vm-templates/t/root.img'],
  ]);
});

test('send output: session id and MB sent', () => {
  const out = 'Sending backup session 20261123-034659:\n———\n5 volumes, 192\u2014\u2014>20 MB in 0.4 seconds.\n';
  assert.equal(sessionFromSendOutput(out), '20261123-034659');
  assert.equal(sentMegabytes(out), 20);
});

test('metadata tar: every *.xml and notes.txt, relative, regular files only', async () => {
  const q = mkdtempSync(join(tmpdir(), 'wq-qdir-'));
  mkdirSync(join(q, 'appvms', 'work'), { recursive: true });
  writeFileSync(join(q, 'qubes.xml'), '<qubes/>');
  writeFileSync(join(q, 'appvms', 'work', 'firewall.xml'), '<firewall/>');
  writeFileSync(join(q, 'appvms', 'work', 'notes.txt'), 'hello');
  writeFileSync(join(q, 'appvms', 'work', 'private.img'), 'DATA');
  symlinkSync('/etc/hostname', join(q, 'appvms', 'work', 'link.xml'));
  const tarPath = join(mkdtempSync(join(tmpdir(), 'wq-tar-')), 'm.tgz');
  const files = await buildMetadataTar(q, tarPath);
  assert.deepEqual(files, ['appvms/work/firewall.xml', 'appvms/work/notes.txt', 'qubes.xml']);
  const back = readMetadataTar(readFileSync(tarPath));
  assert.deepEqual([...back.keys()].sort(), files);
  assert.equal(back.get('appvms/work/notes.txt')?.toString(), 'hello');
});

test('waitPastSession: waits until the clock is past the newest session second, never when already past', async () => {
  const start = new Date(2026, 0, 2, 3, 4, 5, 300);
  let t = start.getTime();
  const slept: number[] = [];
  const clock = {
    now: () => new Date(t),
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
  };
  // the previous send named its session this very second
  assert.equal(await waitPastSession(sessionIdAt(start), clock), 710);
  assert.ok(sessionIdAt(clock.now()) > sessionIdAt(start));
  // a session one second ahead of our clock (queued behind a send that started just now)
  slept.length = 0;
  const ahead = sessionIdAt(new Date(t + 1000));
  await waitPastSession(ahead, clock);
  assert.ok(sessionIdAt(clock.now()) > ahead);
  // already past, or no session: no wait
  assert.equal(await waitPastSession('20250101-000000', clock), 0);
  assert.equal(await waitPastSession(undefined, clock), 0);
  // a session far in the future (clock set back): bounded
  assert.ok((await waitPastSession('29990101-000000', clock, 3000)) <= 4010);
});
