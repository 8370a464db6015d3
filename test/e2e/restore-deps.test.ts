// Restore in dependency order against the simulator: a template, a net qube and a disposable
// template (with a reference cycle between the last two) all deleted and restored in one run,
// together with a qube that refers to all three; references to qubes that are neither live
// nor restored, with and without --ignore-missing; a netvm restored in the same run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdminClient } from '../../src/adapters/qubesd/index.ts';
import { IN_PROGRESS_TAG } from '../../src/core/restore/diff.ts';
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import {
  assertRestored,
  comparable,
  removeQubeLikeQubesd,
  restoreLab,
  writes,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let lab: RestoreLab;

/**
 * tpl-b (TemplateVM); zz-net (net qube on tpl-b, default_dispvm aa-dvm); aa-dvm (disposable
 * template on tpl-b, netvm zz-net: a cycle with zz-net); aa-app (template tpl-b, netvm zz-net,
 * default_dispvm aa-dvm). Names are chosen so that alphabetical order would be wrong.
 * work gets an explicit netvm (sys-firewall) for the missing-reference cases.
 */
async function prepare(_sim: Sandbox, c: AdminClient): Promise<string[]> {
  await c.createQube({ klass: 'TemplateVM', name: 'tpl-b', label: 'black' });
  await c.setFeature('tpl-b', 'os', 'Linux');
  await c.createQube({ klass: 'AppVM', name: 'zz-net', label: 'red', template: 'tpl-b' });
  await c.setProperty('zz-net', 'provides_network', true);
  await c.setProperty('zz-net', 'netvm', '');
  await c.createQube({ klass: 'AppVM', name: 'aa-dvm', label: 'red', template: 'tpl-b' });
  await c.setProperty('aa-dvm', 'template_for_dispvms', true);
  await c.setProperty('aa-dvm', 'netvm', 'zz-net');
  await c.setFeature('aa-dvm', 'appmenus-dispvm', '1');
  await c.setProperty('zz-net', 'default_dispvm', 'aa-dvm');
  await c.createQube({ klass: 'AppVM', name: 'aa-app', label: 'blue', template: 'tpl-b' });
  await c.setProperty('aa-app', 'netvm', 'zz-net');
  await c.setProperty('aa-app', 'default_dispvm', 'aa-dvm');
  await c.setProperty('aa-app', 'memory', 600);
  await c.setProperty('work', 'netvm', 'sys-firewall');
  return ['tpl-b', 'zz-net', 'aa-dvm', 'aa-app'];
}

before(async () => {
  lab = await restoreLab(await buildSandbox(), { prepare });
});

after(async () => {
  await lab?.stop();
});

function firstIndex(calls: readonly CallLogEntry[], pred: (c: CallLogEntry) => boolean, what: string): number {
  const i = calls.findIndex((c) => pred(c) && c.outcome === 'ok');
  assert.ok(i >= 0, `${what} was called`);
  return i;
}

test(
  'template, net qube and disposable template deleted: one restore brings all three back in ' + 'dependency order',
  async () => {
    const c = lab.client();
    // aa-app survives but points elsewhere (qubesd refuses to remove qubes still in use)
    await c.setProperty('aa-app', 'template', 'fedora-41');
    await c.setProperty('aa-app', 'netvm', 'sys-firewall');
    await c.setProperty('aa-app', 'default_dispvm', 'fedora-41-dvm');
    await c.setProperty('zz-net', 'default_dispvm', '');
    for (const q of ['aa-dvm', 'zz-net', 'tpl-b']) await removeQubeLikeQubesd(lab.sim, c, q);

    const dry = await lab.restore(['--dry-run', '--session', lab.session, 'aa-app', 'aa-dvm', 'zz-net', 'tpl-b']);
    assert.equal(dry.code, 0, `${dry.stderr}\n${dry.stdout}`);
    const plan = (
      dry.json!.result as {
        plan: { order: string[]; qubes: Array<{ name: string; action: string; deferred: string[] }> };
      }
    ).plan;
    assert.deepEqual(plan.order, ['tpl-b', 'aa-dvm', 'zz-net', 'aa-app']);
    assert.deepEqual(
      plan.qubes.map((q) => [q.name, q.action]),
      [
        ['tpl-b', 'create'],
        ['aa-dvm', 'create'],
        ['zz-net', 'create'],
        ['aa-app', 'overwrite'],
      ],
    );
    assert.deepEqual(
      plan.qubes.find((q) => q.name === 'aa-dvm')!.deferred,
      ['netvm'],
      'the cycle aa-dvm → zz-net → aa-dvm is closed in the second pass',
    );

    const m = lab.mark();
    const r = await lab.restore(['--session', lab.session, 'aa-app', 'aa-dvm', 'zz-net', 'tpl-b']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    await assertRestored(lab, ['tpl-b', 'zz-net', 'aa-dvm', 'aa-app']);
    const calls = lab.callsSince(m);
    const set =
      (dest: string, prop: string) =>
      (x: CallLogEntry): boolean =>
        x.method === 'admin.vm.property.Set' && x.dest === dest && x.arg === prop;
    const tpl = firstIndex(calls, (x) => x.method === 'admin.vm.Create.TemplateVM', 'Create tpl-b');
    const appCreates = calls.flatMap((x, i) => (x.method === 'admin.vm.Create.AppVM' && x.arg === 'tpl-b' ? [i] : []));
    assert.equal(appCreates.length, 2, 'aa-dvm and zz-net are created on tpl-b');
    assert.ok(
      appCreates.every((i) => i > tpl),
      'the template is created before the qubes based on it',
    );
    // a created qube's first call comes right after its creation
    const firstTo = (name: string): number => calls.findIndex((x) => x.dest === name);
    assert.ok(firstTo('aa-dvm') > tpl && firstTo('zz-net') > tpl && firstTo('tpl-b') > tpl);
    assert.ok(
      firstIndex(calls, set('aa-dvm', 'template_for_dispvms'), 'aa-dvm template_for_dispvms') <
        firstIndex(calls, set('zz-net', 'default_dispvm'), 'zz-net default_dispvm'),
      'the disposable template is one before anything points at it',
    );
    assert.ok(
      firstIndex(calls, set('zz-net', 'provides_network'), 'zz-net provides_network') <
        firstIndex(calls, set('aa-dvm', 'netvm'), 'aa-dvm netvm'),
    );
    assert.ok(
      firstIndex(calls, set('zz-net', 'provides_network'), 'zz-net provides_network') <
        firstIndex(calls, set('aa-app', 'netvm'), 'aa-app netvm'),
    );
    assert.ok(tpl < firstIndex(calls, set('aa-app', 'template'), 'aa-app template'));
    // every failed call would be a wrong order: qubesd refuses references to unfit qubes
    assert.deepEqual(
      calls.filter((x) => x.outcome !== 'ok').map((x) => `${x.method} ${x.dest} ${x.arg} ${x.excType ?? ''}`),
      [],
    );
    for (const q of ['tpl-b', 'zz-net', 'aa-dvm', 'aa-app'])
      assert.equal(await lab.client().hasTag(q, IN_PROGRESS_TAG), false, q);
  },
);

test(
  'a reference to a qube that is neither live nor restored fails that qube (nothing ' +
    'written); --ignore-missing falls back to the default and says so',
  async () => {
    const c = lab.client();
    // sys-firewall goes away: globals and work point at sys-net first (qubesd refuses otherwise)
    await c.setGlobal('default_netvm', 'sys-net');
    await c.setGlobal('updatevm', 'sys-net');
    await c.setProperty('work', 'netvm', 'sys-net');
    await c.setProperty('work', 'memory', 999);
    await removeQubeLikeQubesd(lab.sim, c, 'sys-firewall');

    const dry = await lab.restore(['--dry-run', '--session', lab.session, 'work']);
    assert.equal(dry.code, 2, dry.stdout);
    const plan = (
      dry.json!.result as {
        plan: { qubes: Array<{ name: string; problems: Array<{ severity: string; message: string }> }> };
      }
    ).plan;
    const problems = plan.qubes.find((q) => q.name === 'work')!.problems;
    assert.ok(
      problems.some(
        (p) => p.severity === 'error' && /netvm 'sys-firewall' is neither on this system nor restored/.test(p.message),
      ),
      JSON.stringify(problems),
    );

    let m = lab.mark();
    const r = await lab.restore(['--session', lab.session, 'work']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr + r.stdout, /Error for VMs: work/);
    assert.ok(
      r.json!.errors.some((e) => e.qube === 'work' && /sys-firewall/.test(e.message)),
      JSON.stringify(r.json!.errors),
    );
    assert.deepEqual(writes(lab.callsSince(m)), [], 'a qube that cannot be restored is not touched');
    assert.equal((await lab.client().getProperty('work', 'memory')).value, '999');

    m = lab.mark();
    const ok = await lab.restore(['--session', lab.session, '--ignore-missing', 'work']);
    assert.equal(ok.code, 0, `${ok.stderr}\n${ok.stdout}`);
    assert.match(
      ok.stderr + ok.stdout,
      /netvm 'sys-firewall' is missing: netvm follows the system default \('sys-net'\) \(--ignore-missing\)/,
    );
    const netvm = await lab.client().getProperty('work', 'netvm');
    assert.deepEqual([netvm.value, netvm.isDefault], ['sys-net', true], 'netvm follows default_netvm');
    const now = await lab.client().readQubeSettings(['work'], { firewall: true });
    const want = structuredClone(lab.archived.get('work')!);
    delete want.properties.netvm;
    assert.deepEqual(comparable(now.get('work')), comparable(want), 'everything else is the archived state');
    assert.equal(await lab.client().hasTag('work', IN_PROGRESS_TAG), false);
    assert.ok(writes(lab.callsSince(m)).length > 0);
  },
);

test('the missing netvm restored in the same run: both qubes restored, the netvm first', async () => {
  const r = await lab.restore(['--session', lab.session, 'work', 'sys-firewall']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const result = r.json!.result as { qubes: Array<{ name: string; status: string }> };
  assert.deepEqual(
    result.qubes.map((q) => [q.name, q.status]),
    [
      ['sys-firewall', 'restored'],
      ['work', 'restored'],
    ],
  );
  await assertRestored(lab, ['work', 'sys-firewall']);
});

test('--ignore-missing for a missing template: the default template is used, and the plan says so', async () => {
  const c = lab.client();
  await c.setProperty('aa-app', 'template', 'fedora-41');
  await c.setProperty('aa-app', 'netvm', 'sys-firewall');
  await c.setProperty('aa-app', 'default_dispvm', 'fedora-41-dvm');
  await removeQubeLikeQubesd(lab.sim, c, 'aa-app');
  await c.setProperty('zz-net', 'default_dispvm', '');
  for (const q of ['aa-dvm', 'zz-net', 'tpl-b']) await removeQubeLikeQubesd(lab.sim, c, q);
  const refused = await lab.restore(['--session', lab.session, 'aa-app']);
  assert.equal(refused.code, 2);
  assert.equal(
    (await lab.client().listQubes()).some((q) => q.name === 'aa-app'),
    false,
    'not created',
  );
  const r = await lab.restore(['--session', lab.session, '--ignore-missing', 'aa-app']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.match(r.stdout + r.stderr, /its template 'tpl-b' is missing: using the default template 'fedora-41'/);
  assert.equal((await lab.client().getProperty('aa-app', 'template')).value, 'fedora-41');
  assert.equal((await lab.client().getProperty('aa-app', 'memory')).value, '600');
});
