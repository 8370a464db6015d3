// Restore options end to end against the simulator: the --dry-run --json plan and the real
// --json result shapes, class mismatch, --pref NAME::x, --pool for created qubes,
// --include-disposable=on (also with its disposable template restored in the same run), and
// the interactive confirmation (answer no → nothing changes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { IN_PROGRESS_TAG } from '../../src/core/restore/diff.ts';
import {
  assertRestored,
  comparable,
  removeQubeLikeQubesd,
  restoreLab,
  writes,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

interface PlanJson {
  session: string;
  plan: {
    order: string[];
    qubes: Array<{
      name: string;
      action: string;
      volumes: Array<{ kind: string; archiveName: string }>;
      changes: {
        properties: Array<{ name: string; from: string | null; to: string | null }>;
        features: Array<{ name: string; from: string | null; to: string | null }>;
        tags: Array<{ tag: string; op: string }>;
        devices: Array<{ op: string; assignment: Record<string, unknown> }>;
      };
      problems: Array<{ severity: string; message: string }>;
    }>;
  };
}

interface ResultJson {
  session: string;
  qubes: Array<{ name: string; status: string; changes: number; error?: string }>;
}

test(
  '--dry-run --json: the plan in the documented shape; class mismatch is replace-class; ' + 'nothing touched',
  async () => {
    const c = lab.client();
    await c.setProperty('work', 'memory', 1234);
    await c.removeTag('work', 'project-x');
    await c.setFeature('work', 'stray', '1');
    for (const a of await c.assignedDevices('work', 'pci')) await c.unassignDevice('work', a);
    await removeQubeLikeQubesd(lab.sim, c, 'vault');
    await c.createQube({ klass: 'StandaloneVM', name: 'vault', label: 'red' });
    writeFileSync(lab.sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 1));

    const m = lab.mark();
    const r = await lab.restore(['--dry-run', '--session', lab.session, 'work', 'vault']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.deepEqual(writes(lab.callsSince(m)), [], 'no Admin API write');
    assert.deepEqual(
      readFileSync(lab.sim.qubesd.volumePath('work', 'private')!),
      Buffer.alloc(256 * 1024, 1),
      'no data volume received',
    );
    const wyngCalls = readFileSync(lab.sim.env.WYNG_FAKE_LOG!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[] });
    const receives = wyngCalls.slice(-3).filter((x) => x.argv.includes('receive'));
    assert.ok(
      receives.every((x) => x.argv.some((a) => a.startsWith('--save-to='))),
      'only the metadata was received',
    );

    assert.equal(r.json!.ok, true);
    assert.equal(r.json!.command, 'restore');
    const doc = r.json!.result as PlanJson;
    assert.equal(doc.session, lab.session);
    assert.deepEqual(doc.plan.order, ['vault', 'work']);
    const work = doc.plan.qubes.find((q) => q.name === 'work')!;
    const vault = doc.plan.qubes.find((q) => q.name === 'vault')!;
    assert.equal(work.action, 'overwrite');
    assert.deepEqual(
      work.volumes.map((v) => v.kind),
      ['private'],
    );
    assert.match(work.volumes[0]!.archiveName, /work\/private\.img$/);
    assert.deepEqual(work.changes.properties, [
      { name: 'memory', from: '1234', to: lab.archived.get('work')!.properties.memory ?? null },
    ]);
    assert.deepEqual(work.changes.features, [{ name: 'stray', from: '1', to: null }]);
    assert.deepEqual(work.changes.tags, [{ tag: 'project-x', op: 'add' }]);
    assert.deepEqual(
      work.changes.devices.map((d) => [d.op, d.assignment]),
      lab.archived.get('work')!.devices.map((d) => ['assign', d]),
    );
    assert.deepEqual(work.problems, []);
    assert.equal(vault.action, 'replace-class');
    assert.ok(
      vault.problems.some(
        (p) => p.severity === 'warning' && /StandaloneVM.*AppVM.*removed and re-created/.test(p.message),
      ),
      JSON.stringify(vault.problems),
    );

    const human = await lab.cli([
      'restore',
      '--dry-run',
      '--dest',
      lab.sim.archiveUrl,
      '-u',
      '--allow-reach=all',
      '--session',
      lab.session,
      'work',
      'vault',
    ]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /vault \(AppVM\): replace-class/);
    assert.match(human.stdout, /memory: 1234 → /);
    assert.match(human.stdout, /tag project-x: add/);
  },
);

test('interactive restore asks before overwriting; answering no changes nothing', async () => {
  const m = lab.mark();
  const no = await lab.cli(
    [
      'restore',
      '--dest',
      lab.sim.archiveUrl,
      '--no-qubes-post',
      '--allow-reach=all',
      '--session',
      lab.session,
      'work',
      'vault',
    ],
    { confirm: false },
  );
  assert.equal(no.code, 0, no.stderr);
  assert.match(
    no.stdout + no.stderr,
    /Restoring to existing VMs will overwrite them[\s\S]*vault, work|Restoring to existing VMs will overwrite them[\s\S]*work/,
  );
  assert.deepEqual(writes(lab.callsSince(m)), []);
  assert.deepEqual(
    readFileSync(lab.sim.qubesd.volumePath('work', 'private')!),
    Buffer.alloc(256 * 1024, 1),
    'no data volume received',
  );
  assert.equal((await lab.client().getProperty('work', 'memory')).value, '1234');
  assert.equal((await lab.client().listQubes()).find((q) => q.name === 'vault')!.klass, 'StandaloneVM');

  const yes = await lab.cli(
    [
      'restore',
      '--dest',
      lab.sim.archiveUrl,
      '--no-qubes-post',
      '--allow-reach=all',
      '--session',
      lab.session,
      '--json',
      'work',
      'vault',
    ],
    { confirm: true },
  );
  assert.equal(yes.code, 0, `${yes.stderr}\n${yes.stdout}`);
  const result = yes.json!.result as ResultJson;
  assert.equal(result.session, lab.session);
  assert.deepEqual(
    result.qubes.map((q) => [q.name, q.status]),
    [
      ['vault', 'restored'],
      ['work', 'restored'],
    ],
  );
  for (const q of result.qubes) {
    assert.deepEqual(Object.keys(q).sort(), ['changes', 'name', 'status']);
    assert.ok(q.changes > 0, q.name);
  }
  await assertRestored(lab, ['work', 'vault']);
});

test('--pref NAME::x leaves that property alone and restores everything else', async () => {
  const c = lab.client();
  await c.setProperty('work', 'memory', 1500);
  await c.setProperty('work', 'kernelopts', 'quiet');
  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--pref', 'memory::x', 'work']);
  const plan = (dry.json!.result as PlanJson).plan;
  assert.deepEqual(
    plan.qubes[0]!.changes.properties.map((p) => p.name),
    ['kernelopts'],
  );
  const r = await lab.restore(['--session', lab.session, '--pref', 'memory::x', 'work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.equal((await lab.client().getProperty('work', 'memory')).value, '1500');
  assert.equal((await lab.client().getProperty('work', 'kernelopts')).value, 'nopat');
  const now = (await lab.client().readQubeSettings(['work'], { firewall: true })).get('work')!;
  now.properties.memory = lab.archived.get('work')!.properties.memory!;
  assert.deepEqual(comparable(now), comparable(lab.archived.get('work')));
  assert.equal(await lab.client().hasTag('work', IN_PROGRESS_TAG), false);
  const again = await lab.restore(['--session', lab.session, 'work']);
  assert.equal(again.code, 0);
  await assertRestored(lab, ['work']);
});

test('--pool puts created qubes in that pool; their bytes are restored there', async () => {
  const c = lab.client();
  await removeQubeLikeQubesd(lab.sim, c, 'personal');
  await removeQubeLikeQubesd(lab.sim, c, 'untrusted-standalone');
  const r = await lab.restore(['--session', lab.session, '--pool', 'vm-pool', 'personal', 'untrusted-standalone']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  for (const [q, vols] of [
    ['personal', ['private']],
    ['untrusted-standalone', ['private', 'root']],
  ] as const) {
    for (const v of vols) {
      assert.equal((await lab.client().volumeInfo(q, v)).pool, 'vm-pool', `${q} ${v} is in vm-pool`);
      assert.match(lab.sim.qubesd.volumePath(q, v)!, /vm-pool/);
    }
  }
  await assertRestored(lab, ['personal', 'untrusted-standalone']);
  // qubes that already exist keep their pool
  assert.equal((await lab.client().volumeInfo('work', 'private')).pool, 'vm-pool');
  assert.equal((await lab.client().volumeInfo('vault', 'private')).pool, 'varlibqubes');
});

test('named disposables are restored only with --include-disposable=on', async () => {
  const c = lab.client();
  const before = (await c.readQubeSettings(['disp-test'], { firewall: true })).get('disp-test')!;
  await removeQubeLikeQubesd(lab.sim, c, 'disp-test');
  const without = await lab.restore(['--session', lab.session]);
  assert.equal(without.code, 0, `${without.stderr}\n${without.stdout}`);
  assert.equal(
    (without.json!.result as ResultJson).qubes.some((q) => q.name === 'disp-test'),
    false,
  );
  assert.equal(
    (await lab.client().listQubes()).some((q) => q.name === 'disp-test'),
    false,
  );

  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--include-disposable=on']);
  const plan = (dry.json!.result as PlanJson).plan;
  assert.equal(plan.qubes.find((q) => q.name === 'disp-test')?.action, 'create');
  assert.deepEqual(
    plan.qubes.find((q) => q.name === 'disp-test')?.volumes,
    [],
    'a disposable has no volumes to receive',
  );
  const r = await lab.restore(['--session', lab.session, '--include-disposable=on']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const now = (await lab.client().readQubeSettings(['disp-test'], { firewall: true })).get('disp-test')!;
  assert.equal((await lab.client().listQubes()).find((q) => q.name === 'disp-test')!.klass, 'DispVM');
  assert.deepEqual(comparable(now), comparable(before));
});

test('--include-disposable=on with the disposable template deleted too: both come back in one run', async () => {
  const c = lab.client();
  const before = (await c.readQubeSettings(['disp-test'], { firewall: true })).get('disp-test')!;
  await removeQubeLikeQubesd(lab.sim, c, 'disp-test');
  await c.setGlobal('default_dispvm', '');
  await c.setProperty('work', 'default_dispvm', '');
  await c.setProperty('work-clone', 'default_dispvm', '');
  await removeQubeLikeQubesd(lab.sim, c, 'fedora-41-dvm');
  const r = await lab.restore([
    '--session',
    lab.session,
    '--include-disposable=on',
    'fedora-41-dvm',
    'disp-test',
    'work',
    'work-clone',
  ]);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  await assertRestored(lab, ['fedora-41-dvm', 'work', 'work-clone']);
  const now = (await lab.client().readQubeSettings(['disp-test'], { firewall: true })).get('disp-test')!;
  assert.deepEqual(comparable(now), comparable(before));
  await lab.client().setGlobal('default_dispvm', 'fedora-41-dvm');
});

test(
  'session selection without --session: the newest session of the named qubes; differing ' +
    'newest sessions are ambiguous (exit 9)',
  async () => {
    // a second, newer session with work only (the fake Wyng names sessions by the second)
    await new Promise((r) => setTimeout(r, 1100));
    const b = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', 'work']);
    assert.equal(b.code, 0, b.stderr);
    const newer = (b.json!.result as { session: string }).session;
    assert.notEqual(newer, lab.session);
    const m = lab.mark();
    const ambiguous = await lab.restore(['--dry-run', 'work', 'personal']);
    assert.equal(ambiguous.code, 9);
    assert.match(ambiguous.json!.errors[0]!.message, /Ambiguous VM session selection/);
    // it names each qube's newest session and the --session that holds them all
    assert.ok(
      ambiguous.json!.errors[0]!.message.includes(
        `Newest sessions: work ${newer}, personal ${lab.session}. ` +
          `The newest session holding all of them: --session=${lab.session}.`,
      ),
      ambiguous.json!.errors[0]!.message,
    );
    const one = await lab.restore(['--dry-run', 'work']);
    assert.equal(one.code, 0, one.stderr);
    assert.equal((one.json!.result as PlanJson).session, newer);
    const both = await lab.restore(['--dry-run', '--session', lab.session, 'work', 'personal']);
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual((both.json!.result as PlanJson).plan.order, ['personal', 'work']);
    assert.deepEqual(writes(lab.callsSince(m)), []);
  },
);

test('--exclude: the excluded qube is neither planned nor read', async () => {
  const m = lab.mark();
  const r = await lab.restore(['--dry-run', '--session', lab.session, '--exclude', 'work']);
  assert.equal(r.code, 0, r.stderr);
  const plan = (r.json!.result as PlanJson).plan;
  assert.ok(!plan.order.includes('work'));
  assert.ok(plan.order.includes('personal'));
  assert.deepEqual(
    lab
      .callsSince(m)
      .filter((x) => x.dest === 'work')
      .map((x) => x.method),
    [],
  );
});
