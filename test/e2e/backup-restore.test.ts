// The whole story against the simulator (fake qubesd seeded from a real qubes.xml + fake Wyng,
// real files): back up, damage, plan, restore, compare setting by setting and byte by byte.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import type { QubeSettings } from '../../src/core/qubes/model.ts';
import { comparable } from '../helpers/settings.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

const BACKED_UP = [
  'fedora-41',
  'fedora-41-dvm',
  'personal',
  'sys-firewall',
  'sys-net',
  'untrusted-standalone',
  'vault',
  'work',
  'work-clone',
];
let sim: Sandbox;
let client: AdminClient;
let original: Map<string, QubeSettings>;
let session: string;
const data = new Map<string, Buffer>();

function fill(qube: string, volume: string, seed: string): void {
  const path = sim.qubesd.volumePath(qube, volume);
  assert.ok(path, `${qube} has a ${volume} volume file`);
  const buf = Buffer.alloc(256 * 1024);
  for (let i = 0; i < buf.length; i += 64) buf.write(`${seed}:${i};`, i);
  writeFileSync(path, buf);
  data.set(`${qube}/${volume}`, buf);
}

before(async () => {
  sim = await buildSandbox();
  client = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 5000 }));
  const created = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
  assert.equal(created.code, 0, created.stderr);
  fill('work', 'private', 'work-private');
  fill('personal', 'private', 'personal-private');
  fill('fedora-41', 'root', 'template-root');
  fill('untrusted-standalone', 'root', 'standalone-root');
  original = await client.readQubeSettings(BACKED_UP, { firewall: true });
});

after(async () => {
  await sim?.stop();
});

test('backup sends every selected qube in one session and stamps backup_timestamp', async () => {
  const r = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', '--json', ...BACKED_UP, 'dom0', 'no-such-qube']);
  // a named qube that does not exist is an error (README "Compatibility"); the others are backed up
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(
    r.json!.errors.map((e) => e.qube),
    ['no-such-qube'],
  );
  const result = r.json!.result as {
    session: string;
    qubes: Array<{ name: string; status: string; volumes: string[] }>;
  };
  session = result.session;
  assert.match(session, /^\d{8}-\d{6}$/);
  const byName = Object.fromEntries(result.qubes.map((q) => [q.name, q]));
  for (const q of BACKED_UP) assert.equal(byName[q]?.status, 'ok', q);
  assert.equal(byName.dom0?.status, 'skipped');
  assert.equal(byName['no-such-qube']?.status, 'failed');
  assert.deepEqual(byName['fedora-41']!.volumes.sort(), [
    'vm-templates/fedora-41/private.img',
    'vm-templates/fedora-41/root.img',
  ]);
  const wyngCalls = readFileSync(sim.env.WYNG_FAKE_LOG!, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { argv: string[] });
  assert.equal(wyngCalls.filter((c) => c.argv.includes('send')).length, 1, 'one single Wyng send');
  const stamp = await client.getProperty('work', 'backup_timestamp');
  assert.ok(Number(stamp.value) > 1_700_000_000, `backup_timestamp set (${stamp.value})`);

  const list = await sim.run(['list', '--dest', sim.archiveUrl, '-u', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const lr = list.json!.result as {
    sessions: Array<{ id: string; qubes: string[] }>;
    qubes: Record<string, { newest: string }>;
  };
  assert.deepEqual(
    lr.sessions.map((s) => s.id),
    [session],
  );
  for (const q of BACKED_UP) assert.equal(lr.qubes[q]?.newest, session, q);
});

test('damage, then restore --dry-run shows the plan and writes nothing', async () => {
  await client.setProperty('work', 'memory', 1234);
  await client.setProperty('work', 'label', 'green');
  await client.setTag('work', 'stray');
  await client.setFeature('work', 'stray-feature', '1');
  await client.setFirewall('work', ['action=drop']);
  await client.removeQube('personal');
  await client.setProperty('vault', 'netvm', 'sys-firewall');
  const assigned = await client.assignedDevices('sys-net', 'pci');
  for (const a of assigned) await client.unassignDevice('sys-net', a);
  writeFileSync(sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 7));

  const before = sim.qubesd.callLog.length;
  const r = await sim.run([
    'restore',
    '--dry-run',
    '--allow-reach=all',
    '--session',
    session,
    '--dest',
    sim.archiveUrl,
    '-u',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const writes = sim.qubesd.callLog.slice(before).filter((c) => c.writes);
  assert.deepEqual(
    writes.map((c) => c.method),
    [],
    'dry run makes no Admin API write',
  );
  const plan = (
    r.json!.result as {
      plan: {
        qubes: Array<{
          name: string;
          action: string;
          changes: {
            properties: Array<{ name: string; from: string | null; to: string | null }>;
            tags: unknown[];
            features: unknown[];
            devices: unknown[];
            firewall: unknown;
            label: unknown;
          };
        }>;
      };
    }
  ).plan;
  const byName = Object.fromEntries(plan.qubes.map((q) => [q.name, q]));
  assert.equal(byName.personal!.action, 'create');
  assert.equal(byName.work!.action, 'overwrite');
  assert.deepEqual(
    byName.work!.changes.properties.find((p) => p.name === 'memory'),
    { name: 'memory', from: '1234', to: original.get('work')!.properties.memory ?? null },
  );
  assert.ok(byName.work!.changes.label);
  assert.ok(byName.work!.changes.firewall);
  assert.equal(byName['sys-net']!.changes.devices.length, assigned.length);
  assert.deepEqual(
    Buffer.compare(readFileSync(sim.qubesd.volumePath('work', 'private')!), Buffer.alloc(256 * 1024, 7)),
    0,
    'no data restored by a dry run',
  );
});

test('restore brings every setting and every byte back; a rerun writes nothing', async () => {
  const r = await sim.run([
    'restore',
    '--session',
    session,
    '--dest',
    sim.archiveUrl,
    '-u',
    '--allow-reach=all',
    '--no-qubes-post',
    '--json',
  ]);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const now = await new AdminClient(
    new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 5000 }),
  ).readQubeSettings(BACKED_UP, { firewall: true });
  for (const q of BACKED_UP)
    assert.deepEqual(comparable(now.get(q)!), comparable(original.get(q)!), `settings of ${q}`);
  for (const [key, bytes] of data) {
    const [qube, volume] = key.split('/') as [string, string];
    assert.equal(Buffer.compare(readFileSync(sim.qubesd.volumePath(qube, volume)!), bytes), 0, `bytes of ${key}`);
  }
  const before = sim.qubesd.callLog.length;
  const again = await sim.run([
    'restore',
    '--session',
    session,
    '--dest',
    sim.archiveUrl,
    '-u',
    '--allow-reach=all',
    '--no-qubes-post',
    '--json',
  ]);
  assert.equal(again.code, 0, again.stderr);
  const writes = sim.qubesd.callLog.slice(before).filter((c) => c.writes);
  assert.deepEqual(
    writes.map((c) => `${c.method}+${c.arg} ${c.dest}`),
    [],
    'unchanged rerun: zero writes',
  );
});
