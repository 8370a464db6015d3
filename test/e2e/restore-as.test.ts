// Restoring alongside under another name (issue 19 §1) end to end against the simulator:
// `restore work --as work-old` creates work-old from work's archived settings and data while the
// live work gets no Admin API write and keeps its bytes; `--rename-conflicting` restores a qube
// whose live namesake is of another class as NAME1 and points the restored qubes at it; bad
// requests (two qubes, a taken or invalid name) change nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../../src/adapters/qubesd/index.ts';
import { isSystemTag } from '../../src/core/restore/diff.ts';
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import {
  comparable,
  pattern,
  qubeDir,
  removeQubeLikeQubesd,
  restoreLab,
  writes,
  type RestoreLab,
} from '../helpers/restore-lab.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let lab: RestoreLab;

/** tpl-r (TemplateVM) and app-r (AppVM on tpl-r, default_dispvm none): for the rename of a template. */
async function prepare(_sim: Sandbox, c: AdminClient): Promise<string[]> {
  await c.createQube({ klass: 'TemplateVM', name: 'tpl-r', label: 'black' });
  await c.setFeature('tpl-r', 'os', 'Linux');
  await c.createQube({ klass: 'AppVM', name: 'app-r', label: 'green', template: 'tpl-r' });
  await c.setProperty('app-r', 'memory', 700);
  return ['tpl-r', 'app-r'];
}

before(async () => {
  lab = await restoreLab(await buildSandbox(), { prepare });
});

after(async () => {
  await lab?.stop();
});

interface PlanDoc {
  session: string;
  renames: Record<string, string>;
  plan: { order: string[]; qubes: Array<{ name: string; action: string; volumes: Array<{ archiveName: string }> }> };
}

interface ResultDoc {
  renames: Record<string, string>;
  qubes: Array<{ name: string; status: string; error?: string }>;
}

const touching = (calls: readonly CallLogEntry[], qube: string): string[] =>
  writes(calls.filter((c) => c.dest === qube));

/** The settings a copy of `name` must have: the archived ones without devices and system tags. */
function copyOf(name: string, as: string): unknown {
  const s = lab.archived.get(name)!;
  return comparable({ ...s, name: as, devices: [], tags: s.tags.filter((t) => !isSystemTag(t)) });
}

test('--dry-run --as shows the new name, the archived volumes and writes nothing', async () => {
  const m = lab.mark();
  const r = await lab.restore(['--dry-run', '--session', lab.session, '--as', 'work-old', 'work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.deepEqual(writes(lab.callsSince(m)), []);
  const doc = r.json!.result as PlanDoc;
  assert.deepEqual(doc.renames, { work: 'work-old' });
  assert.deepEqual(doc.plan.order, ['work-old']);
  assert.equal(doc.plan.qubes[0]!.action, 'create');
  assert.match(doc.plan.qubes[0]!.volumes[0]!.archiveName, /(^|\/)work(\/private\.img|-private)$/);
  const human = await lab.cli([
    'restore',
    '--dry-run',
    '-u',
    '--dest',
    lab.sim.archiveUrl,
    '--session',
    lab.session,
    '--as',
    'work-old',
    'work',
  ]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /work-old \(AppVM\): create/);
  assert.match(human.stdout, /work → work-old/);
});

test('restore work --as work-old: the copy has the archived settings and data; work gets no write', async () => {
  const c = lab.client();
  await c.setProperty('work', 'memory', 1234);
  const today = pattern('work today');
  writeFileSync(lab.sim.qubesd.volumePath('work', 'private')!, today);
  const before = (await lab.client().readQubeSettings(['work'], { firewall: true })).get('work')!;

  const m = lab.mark();
  const r = await lab.restore(['--session', lab.session, '--as', 'work-old', 'work']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const doc = r.json!.result as ResultDoc;
  assert.deepEqual(doc.renames, { work: 'work-old' });
  assert.deepEqual(
    doc.qubes.map((q) => [q.name, q.status]),
    [['work-old', 'restored']],
  );

  // the original: zero Admin API writes, same settings, same bytes
  assert.deepEqual(touching(lab.callsSince(m), 'work'), []);
  const after = (await lab.client().readQubeSettings(['work'], { firewall: true })).get('work')!;
  assert.deepEqual(comparable(after), comparable(before));
  assert.deepEqual(readFileSync(lab.sim.qubesd.volumePath('work', 'private')!), today);

  // the copy: archived settings (no devices, no created-by-*), notes, archived bytes
  const copy = (await lab.client().readQubeSettings(['work-old'], { firewall: true })).get('work-old')!;
  assert.deepEqual(comparable({ ...copy, tags: copy.tags.filter((t) => !isSystemTag(t)) }), copyOf('work', 'work-old'));
  assert.deepEqual(copy.devices, [], 'the copy claims no device');
  assert.ok(lab.archived.get('work')!.devices.length > 0, 'the archived work has a device');
  assert.equal(readFileSync(join(qubeDir(lab.sim, 'work-old', 'AppVM'), 'notes.txt'), 'utf8'), lab.notes.get('work'));
  assert.equal(
    Buffer.compare(readFileSync(lab.sim.qubesd.volumePath('work-old', 'private')!), lab.data.get('work/private')!),
    0,
  );
});

test('--as refuses a taken name, two qubes, an invalid name, another command; nothing written', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--as', 'personal', 'work'], /already exists/],
    [['--as', 'work-old', 'work'], /already exists/],
    [['--as', 'x1', 'work', 'vault'], /exactly one qube/],
    [['--as', 'work'], /exactly one qube/],
    [['--as', 'bad name', 'work'], /invalid qube name/],
    [['--as', 'x-dm', 'work'], /-dm/],
    [['--as', 'work', 'work'], /own name/],
  ];
  for (const [args, message] of cases) {
    const m = lab.mark();
    const r = await lab.restore(['--session', lab.session, ...args]);
    assert.equal(r.code, 9, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.deepEqual(writes(lab.callsSince(m)), [], args.join(' '));
  }
  const backup = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--as', 'x', 'work']);
  assert.equal(backup.code, 9);
  assert.match(backup.stderr, /only valid with restore/);
});

test('--rename-conflicting: a live namesake of another class stays; references follow the rename', async () => {
  const c = lab.client();
  await removeQubeLikeQubesd(lab.sim, c, 'app-r');
  await removeQubeLikeQubesd(lab.sim, c, 'tpl-r');
  await c.createQube({ klass: 'StandaloneVM', name: 'tpl-r', label: 'red' });
  const standalone = pattern('standalone tpl-r');
  writeFileSync(lab.sim.qubesd.volumePath('tpl-r', 'private')!, standalone);

  const dry = await lab.restore(['--dry-run', '--session', lab.session, '--rename-conflicting', 'tpl-r', 'app-r']);
  assert.equal(dry.code, 0, dry.stderr);
  const plan = dry.json!.result as PlanDoc;
  assert.deepEqual(plan.renames, { 'tpl-r': 'tpl-r1' });
  assert.deepEqual(plan.plan.order, ['tpl-r1', 'app-r']);

  const m = lab.mark();
  const r = await lab.restore(['--session', lab.session, '--rename-conflicting', 'tpl-r', 'app-r']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  assert.deepEqual(touching(lab.callsSince(m), 'tpl-r'), []);
  const live = await lab.client().listQubes();
  assert.equal(live.find((q) => q.name === 'tpl-r')!.klass, 'StandaloneVM');
  assert.equal(live.find((q) => q.name === 'tpl-r1')!.klass, 'TemplateVM');
  assert.deepEqual(readFileSync(lab.sim.qubesd.volumePath('tpl-r', 'private')!), standalone);
  assert.equal((await lab.client().getProperty('app-r', 'template')).value, 'tpl-r1');
  assert.equal((await lab.client().getProperty('app-r', 'memory')).value, '700');
  for (const vol of ['private', 'root']) {
    const path = lab.sim.qubesd.volumePath('tpl-r1', vol)!;
    assert.ok(existsSync(path));
    assert.equal(Buffer.compare(readFileSync(path), lab.data.get(`tpl-r/${vol}`)!), 0, `tpl-r1/${vol}`);
  }
  assert.equal(
    Buffer.compare(readFileSync(lab.sim.qubesd.volumePath('app-r', 'private')!), lab.data.get('app-r/private')!),
    0,
  );
});
