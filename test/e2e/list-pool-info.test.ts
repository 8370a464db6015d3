/**
 * `list --pool-info` end to end: the built bundle, the fake Wyng with an archive holding one
 * Qubes session, and a qubesd socket answering with the RECORDED bytes of the real qubesd
 * (admin.pool.List + admin.pool.Info, test/data/qubesd/transcripts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBundle, runInProcess } from '../helpers/cli.ts';
import { wyngTarget, writeVolume, type WyngTarget } from '../helpers/wyng-target.ts';
import { startReplay, synthetic, type ReplayServer } from '../helpers/qubesd-replay.ts';
import { exchanges } from '../helpers/qubesd-transcripts.ts';
import { buildMetadataTar } from '../../src/adapters/metadata/build.ts';
import { wyngArgv } from '../../src/adapters/wyng/argv.ts';
import { humanBytes, listPools, poolLines } from '../../src/core/list.ts';

const QUBES_XML = `<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><pools/>\
<properties/><domains>
<domain id="domain-0" class="AdminVM"><properties><property name="label">label-1</property></properties>\
<features/><tags/></domain>
<domain id="domain-1" class="AppVM"><properties><property name="name">work</property><property name="qid">\
1</property><property name="label">label-1</property></properties><features/><tags/></domain>
</domains></qubes>`;

const POOL_CALLS = [
  'admin.pool.List/ok',
  'admin.pool.Info/varlibqubes',
  'admin.pool.Info/linux-kernel',
  'admin.pool.Info/vm-pool',
];

let t: WyngTarget;
let dest: string;

before(async () => {
  t = wyngTarget('pool-info');
  dest = `file:${join(t.scratch, 'archive')}`;
  const created = await runBundle(['--wyng', t.wyng, '--dest', dest, '-w', 'encrypt=off', 'create'], { env: t.env });
  assert.equal(created.code, 0, created.stderr);
  writeVolume(join(t.poolDir, 'appvms', 'work', 'private.img'), 1 << 20, [0]);
  const qubesDir = join(t.scratch, 'qubes');
  mkdirSync(qubesDir, { recursive: true });
  writeFileSync(join(qubesDir, 'qubes.xml'), QUBES_XML);
  const tar = join(t.scratch, 'meta.tgz');
  await buildMetadataTar(qubesDir, tar);
  const localFrom = join(t.scratch, 'vols.json');
  writeFileSync(localFrom, JSON.stringify({ [t.poolDir]: [['appvms/work/private.img', '']] }));
  execFileSync(t.wyng, wyngArgv.send({ dest, unattended: true, wyngopt: [] }, { localFrom, metadataTar: tar }), {
    env: t.env as NodeJS.ProcessEnv,
    stdio: 'pipe',
  });
});

after(() => {
  if (!t.real) rmSync(t.scratch, { recursive: true, force: true });
});

async function withQubesd(
  fn: (server: ReplayServer, env: Record<string, string | undefined>) => Promise<void>,
  ex = exchanges(...POOL_CALLS),
): Promise<void> {
  const server = await startReplay(ex);
  try {
    await fn(server, { ...t.env, WYNG_QUBES_QUBESD_SOCKET: server.socketPath, WYNG_QUBES_QUBESD_TIMEOUT_MS: '5000' });
    assert.deepEqual(server.unmatched, [], 'requests are the recorded bytes');
  } finally {
    await server.close();
  }
}

test('list --pool-info prints the archive header, then lvm_thin/file-reflink pools: path, size, usage', async () => {
  await withQubesd(async (server, env) => {
    const r = await runBundle(['--wyng', t.wyng, '--dest', dest, '--pool-info', 'list'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\nURL file:/);
    assert.match(
      r.stdout,
      new RegExp(
        String.raw`\nQubes local storage pools:\n varlibqubes {13}: file-reflink, \/var\/lib\/qubes, ` +
          String.raw`size 2\.0 GiB, used 5\.8 MiB \(0\.3%\)\n vm-pool {17}: file-reflink, \/mnt\/vm-pool, ` +
          String.raw`size 2\.0 GiB, used 5\.8 MiB \(0\.3%\)\n`,
      ),
    );
    assert.doesNotMatch(r.stdout, /linux-kernel/, 'pools Wyng cannot use are left out, as wyng-util-qubes does');
    assert.doesNotMatch(r.stdout, /Archived Qubes VMs/);
    assert.deepEqual(server.unused(), []);
  });
});

test('list --pool-info --json: result.pools, and --debug prints the Admin API call log', async () => {
  await withQubesd(async (_server, env) => {
    const r = await runBundle(['--wyng', t.wyng, '--dest', dest, '--pool-info', '--json', '--debug', 'list'], { env });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { ok: boolean; result: { pools: unknown; archive: { url: string } } };
    assert.equal(doc.ok, true);
    assert.equal(doc.result.archive.url, dest);
    assert.deepEqual(doc.result.pools, [
      {
        name: 'varlibqubes',
        driver: 'file-reflink',
        path: '/var/lib/qubes',
        dirPath: '/var/lib/qubes',
        size: 2147483648,
        usage: 6062080,
      },
      {
        name: 'vm-pool',
        driver: 'file-reflink',
        path: '/mnt/vm-pool',
        dirPath: '/mnt/vm-pool',
        size: 2147483648,
        usage: 6062080,
      },
    ]);
    assert.match(r.stderr, /Qubes local storage pools:/, 'human text goes to stderr under --json');
    assert.match(r.stderr, /debug: qubesd #1 read admin\.pool\.List\+ → dom0: ok/);
    assert.match(r.stderr, /debug: qubesd calls: 4 \(4 reads, 0 writes, 0 failed\)/);
  });
});

test('list --pool-info shows lvm_thin pools as VG/thin pool', async () => {
  // no lvm_thin pool was recorded (the lab has none); the Info body follows design.md "Admin API contract"
  const ex = [
    synthetic('pool-list', 'admin.pool.List+ dom0 name dom0\0', '0\0lvm\n'),
    synthetic(
      'pool-info-lvm',
      'admin.pool.Info+lvm dom0 name dom0\0',
      '0\0driver=lvm_thin\nname=lvm\nrevisions_to_keep=1\nthin_pool=vm-pool\nvolume_group=qubes_dom0\n' +
        'size=107374182400\nusage=53687091200\n',
    ),
  ];
  await withQubesd(async (_server, env) => {
    const r = await runInProcess(['--wyng', t.wyng, '--dest', dest, '--pool-info', '--json', 'list'], { env });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { result: { pools: unknown } };
    assert.deepEqual(doc.result.pools, [
      {
        name: 'lvm',
        driver: 'lvm_thin',
        path: 'qubes_dom0/vm-pool',
        volumeGroup: 'qubes_dom0',
        thinPool: 'vm-pool',
        size: 107374182400,
        usage: 53687091200,
      },
    ]);
    assert.match(r.stderr, / lvm {21}: lvm_thin {4}, qubes_dom0\/vm-pool, size 100\.0 GiB, used 50\.0 GiB \(50\.0%\)/);
  }, ex);
});

test('list --pool-info without qubesd: a clear Admin API error, exit 1', async () => {
  const env = { ...t.env, WYNG_QUBES_QUBESD_SOCKET: join(t.scratch, 'no-qubesd.sock') };
  const r = await runInProcess(['--wyng', t.wyng, '--dest', dest, '--pool-info', '--json', 'list'], { env });
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout) as { ok: boolean; errors: Array<{ kind: string; message: string }> };
  assert.equal(doc.ok, false);
  assert.equal(doc.errors[0]?.kind, 'admin-api');
  assert.match(doc.errors[0]?.message ?? '', /cannot connect to qubesd at .*no-qubesd\.sock: ENOENT/);
});

test('pool formatting helpers', () => {
  assert.equal(humanBytes(0), '0 B');
  assert.equal(humanBytes(1023), '1023 B');
  assert.equal(humanBytes(1536), '1.5 KiB');
  assert.equal(humanBytes(2147483648), '2.0 GiB');
  const pools = listPools([
    {
      name: 'k',
      driver: 'linux-kernel',
      config: { name: 'k', driver: 'linux-kernel', dir_path: '/x' },
      size: undefined,
      usage: undefined,
      includedIn: 'v',
    },
    {
      name: 'f',
      driver: 'file-reflink',
      config: { name: 'f', driver: 'file-reflink', dir_path: '/f' },
      size: undefined,
      usage: undefined,
      includedIn: undefined,
    },
    {
      name: 'broken',
      driver: 'lvm_thin',
      config: { name: 'broken', driver: 'lvm_thin' },
      size: 1,
      usage: 1,
      includedIn: undefined,
    },
  ]);
  assert.deepEqual(pools, [{ name: 'f', driver: 'file-reflink', path: '/f', dirPath: '/f', size: null, usage: null }]);
  assert.deepEqual(poolLines(pools), ['', 'Qubes local storage pools:', ` f${' '.repeat(23)}: file-reflink, /f`]);
  assert.deepEqual(poolLines([]), ['', 'Qubes local storage pools:', ' (none of type lvm_thin or file-reflink)']);
});
