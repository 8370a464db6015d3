import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArchivedSystem, QubeSettings } from '../../src/core/qubes/model.ts';
import { planRestore, type LiveQube } from '../../src/core/restore/plan.ts';
import { applyRestore, menuRelevant, type RestorePorts } from '../../src/core/restore/apply.ts';
import { emptyDiff, IN_PROGRESS_TAG, tableNormaliser, type SettingsDiff } from '../../src/core/restore/diff.ts';

function q(
  name: string,
  klass: QubeSettings['klass'],
  properties: Record<string, string>,
  extra: Partial<QubeSettings> = {},
): QubeSettings {
  return {
    name,
    klass,
    properties: { label: 'red', ...properties },
    features: {},
    tags: [],
    devices: [],
    firewall: [],
    ...extra,
  };
}

const archived: ArchivedSystem = {
  globals: {},
  labels: [],
  pools: [],
  qubes: [
    q('debian-12', 'TemplateVM', {}),
    q('sys-firewall', 'AppVM', { template: 'debian-12', provides_network: 'True', default_dispvm: 'dvm' }),
    q('dvm', 'AppVM', { template: 'debian-12', template_for_dispvms: 'True', netvm: 'sys-firewall' }),
    q(
      'work',
      'AppVM',
      { template: 'debian-12', netvm: 'sys-firewall', memory: '800' },
      {
        features: { 'service.cups': '1' },
        tags: ['important'],
        devices: [
          {
            devclass: 'pci',
            backend: 'dom0',
            port: '00_03.0',
            deviceId: '0x8086:0x1234',
            mode: 'required',
            options: { 'no-strict-reset': 'True' },
          },
        ],
        firewall: ['action=accept proto=tcp dstports=443-443', 'action=drop'],
      },
    ),
  ],
};
const sessionVolumes = {
  'debian-12': { private: 'vm-templates/debian-12/private.img', root: 'vm-templates/debian-12/root.img' },
  'sys-firewall': { private: 'appvms/sys-firewall/private.img' },
  dvm: { private: 'appvms/dvm/private.img' },
  work: { private: 'appvms/work/private.img' },
};
const notes = { work: 'my notes\n' };

/** An in-memory Qubes with qubesd's few rules that matter for ordering. */
class MemoryQubes implements RestorePorts {
  qubes = new Map<string, QubeSettings & { state: LiveQube['state'] }>();
  notes = new Map<string, string>();
  writes = 0;
  calls: string[] = [];
  received: Array<[string, string]> = [];
  failWhen: (call: string) => boolean = () => false;
  failVolumes: string[] = [];
  said: string[] = [];

  private w(call: string): void {
    this.calls.push(call);
    this.writes += 1;
    if (this.failWhen(call)) throw new Error(`injected failure of ${call}`);
  }
  private get(name: string) {
    const v = this.qubes.get(name);
    if (!v) throw new Error(`no qube ${name}`);
    return v;
  }
  live(): LiveQube[] {
    return [...this.qubes.values()].map((x) => ({ name: x.name, klass: x.klass, state: x.state }));
  }
  async kill(n: string) {
    this.w(`kill ${n}`);
    this.get(n).state = 'Halted';
  }
  async remove(n: string) {
    this.w(`remove ${n}`);
    this.qubes.delete(n);
  }
  async create(n: string, spec: { klass: QubeSettings['klass']; label: string; template: string | null }) {
    this.w(`create ${n}`);
    if (spec.template && this.get(spec.template).klass !== 'TemplateVM')
      throw new Error('template is not a TemplateVM');
    this.qubes.set(n, {
      ...q(n, spec.klass, { label: spec.label, ...(spec.template ? { template: spec.template } : {}) }),
      firewall: ['action=accept'],
      tags: ['created-by-dom0'],
      state: 'Halted',
    });
  }
  async setProperty(n: string, p: string, v: string) {
    this.w(`set ${n}.${p}`);
    if (p === 'netvm' && v && this.get(v).properties.provides_network !== 'True')
      throw new Error(`${v} does not provide network`);
    if (p === 'default_dispvm' && v && this.get(v).properties.template_for_dispvms !== 'True')
      throw new Error(`${v} has template_for_dispvms set to False`);
    this.get(n).properties[p] = v;
  }
  async resetProperty(n: string, p: string) {
    this.w(`reset ${n}.${p}`);
    delete this.get(n).properties[p];
  }
  async setFeature(n: string, f: string, v: string) {
    this.w(`feature ${n}.${f}`);
    this.get(n).features[f] = v;
  }
  async removeFeature(n: string, f: string) {
    this.w(`unfeature ${n}.${f}`);
    delete this.get(n).features[f];
  }
  async addTag(n: string, t: string) {
    this.w(`tag ${n}.${t}`);
    const x = this.get(n);
    if (!x.tags.includes(t)) x.tags.push(t);
  }
  async removeTag(n: string, t: string) {
    this.w(`untag ${n}.${t}`);
    const x = this.get(n);
    x.tags = x.tags.filter((y) => y !== t);
  }
  async assignDevice(n: string, a: QubeSettings['devices'][number]) {
    this.w(`assign ${n}`);
    this.get(n).devices.push(a);
  }
  async unassignDevice(n: string, a: QubeSettings['devices'][number]) {
    this.w(`unassign ${n}`);
    const x = this.get(n);
    x.devices = x.devices.filter((d) => d.port !== a.port || d.deviceId !== a.deviceId);
  }
  async setFirewall(n: string, rules: readonly string[]) {
    this.w(`firewall ${n}`);
    this.get(n).firewall = [...rules];
  }
  async writeNotes(n: string, _k: QubeSettings['klass'], text: string) {
    this.w(`notes ${n}`);
    this.notes.set(n, text);
  }
  async readNotes(n: string) {
    return this.notes.get(n) ?? '';
  }
  async readSettings(names: readonly string[]) {
    const out = new Map<string, QubeSettings>();
    for (const n of names) {
      const x = this.qubes.get(n);
      if (x)
        out.set(
          n,
          structuredClone({
            name: x.name,
            klass: x.klass,
            properties: x.properties,
            features: x.features,
            tags: x.tags,
            devices: x.devices,
            firewall: x.firewall,
          }),
        );
    }
    return out;
  }
  /** each volumeTarget call: qube, existing flag, and how many writes were made before it */
  located: Array<[string, boolean, number]> = [];
  async volumeTarget(n: string, v: { kind: 'private' | 'root' }, existing?: boolean) {
    this.located.push([`${n}/${v.kind}`, existing === true, this.writes]);
    const dir = this.get(n).klass === 'TemplateVM' ? 'vm-templates' : 'appvms';
    return { poolPath: '/pool', localName: `${dir}/${n}/${v.kind}.img` };
  }
  async receive(map: ReadonlyMap<string, Array<[string, string]>>) {
    this.calls.push('receive');
    for (const list of map.values()) this.received.push(...list);
    return this.failVolumes;
  }
  async post(_qube: string, _klass: QubeSettings['klass'], _sync: boolean) {}
  say(t: string) {
    this.said.push(t);
  }
}

async function restore(mem: MemoryQubes, names: string[] = []) {
  const live = mem.live();
  const settings = await mem.readSettings(live.map((x) => x.name));
  const plan = planRestore({
    session: '20261123-034701',
    archived,
    archivedNotes: notes,
    sessionVolumes,
    live: { qubes: live, settings, notes: Object.fromEntries(mem.notes), globals: {}, runningDispvmTemplates: {} },
    request: {
      qubes: names,
      exclude: [],
      includeDisposable: false,
      skip: new Set(),
      ignoreMissing: false,
      forceIncomplete: false,
    },
    normalise: tableNormaliser,
  });
  const outcomes = await applyRestore(
    {
      plan,
      archived: new Map(archived.qubes.map((x) => [x.name, x])),
      archivedNotes: notes,
      skip: new Set(),
      normalise: tableNormaliser,
      pool: null,
      post: true,
    },
    mem,
  );
  return { plan, outcomes };
}

function assertEqualsArchive(mem: MemoryQubes) {
  for (const a of archived.qubes) {
    const live = mem.qubes.get(a.name)!;
    assert.ok(live, `${a.name} exists`);
    assert.deepEqual(live.properties, a.properties, `${a.name} properties`);
    assert.deepEqual(live.features, a.features, `${a.name} features`);
    assert.deepEqual(live.tags.filter((t) => t !== 'created-by-dom0').sort(), [...a.tags].sort(), `${a.name} tags`);
    assert.deepEqual(live.devices, a.devices);
    assert.deepEqual(live.firewall, a.firewall!.length ? a.firewall : ['action=accept']);
  }
  assert.equal(mem.notes.get('work'), 'my notes\n');
}

test(
  'restore into an empty system creates everything in dependency order, one receive, ' + 'verified, tags removed',
  async () => {
    const mem = new MemoryQubes();
    const { outcomes } = await restore(mem);
    assert.deepEqual(
      outcomes.map((o) => [o.name, o.status, o.error]),
      [
        ['debian-12', 'restored', undefined],
        ['dvm', 'restored', undefined],
        ['sys-firewall', 'restored', undefined],
        ['work', 'restored', undefined],
      ],
    );
    assert.equal(mem.calls.filter((c) => c === 'receive').length, 1);
    assert.equal(mem.received.length, 5);
    assertEqualsArchive(mem);
    assert.ok(![...mem.qubes.values()].some((x) => x.tags.includes(IN_PROGRESS_TAG)));
    // dvm.netvm (cycle with sys-firewall.default_dispvm) is set after sys-firewall provides network
    assert.ok(mem.calls.indexOf('set sys-firewall.provides_network') < mem.calls.indexOf('set dvm.netvm'));
  },
);

test('a second restore of an unchanged system makes zero writes', async () => {
  const mem = new MemoryQubes();
  await restore(mem);
  mem.writes = 0;
  mem.calls = [];
  const { outcomes } = await restore(mem);
  assert.ok(outcomes.every((o) => o.status === 'restored'));
  assert.equal(mem.writes, 0, mem.calls.join(', '));
});

test('damage is repaired exactly', async () => {
  const mem = new MemoryQubes();
  await restore(mem);
  const work = mem.qubes.get('work')!;
  work.properties.memory = '4000';
  work.properties.vcpus = '8';
  work.features = { stray: '1' };
  work.tags.push('stray');
  work.devices = [];
  work.firewall = ['action=accept'];
  mem.notes.set('work', 'tampered');
  mem.qubes.delete('dvm');
  const { outcomes, plan } = await restore(mem);
  assert.equal(plan.qubes.find((x) => x.name === 'dvm')!.action, 'create');
  assert.ok(
    outcomes.every((o) => o.status === 'restored'),
    JSON.stringify(outcomes),
  );
  assertEqualsArchive(mem);
});

test('a fault at any write fails only the qube hit, which keeps the tag; a rerun converges', async () => {
  const clean = new MemoryQubes();
  await restore(clean);
  const total = clean.writes;
  for (let n = 1; n <= total; n += 1) {
    const mem = new MemoryQubes();
    let count = 0;
    let hit = '';
    mem.failWhen = (call) => {
      count += 1;
      if (count === n) {
        hit = call;
        return true;
      }
      return false;
    };
    const { outcomes } = await restore(mem);
    const failed = outcomes.filter((o) => o.status === 'failed').map((o) => o.name);
    assert.ok(failed.length >= 1, `fault ${n} (${hit}) is reported`);
    for (const f of failed) {
      const live = mem.qubes.get(f);
      if (live)
        assert.ok(
          live.tags.includes(IN_PROGRESS_TAG) ||
            hit.startsWith(`tag ${f}.${IN_PROGRESS_TAG}`) ||
            hit.startsWith('create'),
          `failed ${f} keeps the tag after fault ${n} (${hit})`,
        );
    }
    mem.failWhen = () => false;
    const again = await restore(mem);
    assert.ok(
      again.outcomes.every((o) => o.status === 'restored'),
      `rerun after fault ${n} (${hit}): ${JSON.stringify(again.outcomes)}`,
    );
    assertEqualsArchive(mem);
    assert.ok(
      ![...mem.qubes.values()].some((x) => x.tags.includes(IN_PROGRESS_TAG)),
      `no stale tag after rerun (fault ${n})`,
    );
  }
});

test('a failed volume fails its qube only and leaves the tag', async () => {
  const mem = new MemoryQubes();
  mem.failVolumes = ['appvms/work/private.img'];
  const { outcomes } = await restore(mem);
  const byName = Object.fromEntries(outcomes.map((o) => [o.name, o]));
  assert.equal(byName.work!.status, 'failed');
  assert.match(byName.work!.error!, /appvms\/work\/private.img/);
  assert.equal(byName['sys-firewall']!.status, 'restored');
  assert.ok(mem.qubes.get('work')!.tags.includes(IN_PROGRESS_TAG));
});

test('a created qube that cannot be tagged is removed again (never left half-made without the tag)', async () => {
  const mem = new MemoryQubes();
  mem.failWhen = (call) => call === `tag work.${IN_PROGRESS_TAG}`;
  const { outcomes } = await restore(mem);
  const byName = Object.fromEntries(outcomes.map((o) => [o.name, o]));
  assert.equal(byName.work!.status, 'failed');
  assert.match(byName.work!.error!, /tagging backup-restore-in-progress/);
  assert.equal(mem.qubes.has('work'), false, 'the untagged new qube is gone');
  assert.ok(mem.calls.indexOf('remove work') > mem.calls.indexOf('create work'));
  for (const n of ['debian-12', 'sys-firewall', 'dvm']) assert.equal(byName[n]!.status, 'restored', n);
  mem.failWhen = () => false;
  assert.ok((await restore(mem)).outcomes.every((o) => o.status === 'restored'));
  assertEqualsArchive(mem);
});

test('replace-class: a live qube that cannot be tagged first is not removed', async () => {
  const mem = new MemoryQubes();
  await restore(mem);
  mem.qubes.set('work', { ...q('work', 'StandaloneVM', { label: 'green' }), state: 'Halted' });
  mem.calls = [];
  mem.failWhen = (call) => call === `tag work.${IN_PROGRESS_TAG}`;
  const { plan, outcomes } = await restore(mem);
  assert.equal(plan.qubes.find((x) => x.name === 'work')!.action, 'replace-class');
  assert.equal(outcomes.find((o) => o.name === 'work')!.status, 'failed');
  assert.equal(mem.qubes.get('work')!.klass, 'StandaloneVM', 'the live qube is kept');
  assert.ok(!mem.calls.includes('remove work'), mem.calls.join(', '));
});

test("one qube's failed read (after the data, or in verification) fails that qube only", async () => {
  for (const phase of ['created', 'verify'] as const) {
    const mem = new MemoryQubes();
    if (phase === 'verify') {
      await restore(mem);
      mem.qubes.get('work')!.properties.memory = '1234';
      mem.calls = [];
    }
    const read = mem.readSettings.bind(mem);
    mem.readSettings = async (names: readonly string[]) => {
      if (mem.calls.includes('receive') && names.includes('work')) throw new Error('injected read failure');
      return read(names);
    };
    const { outcomes } = await restore(mem);
    const failed = outcomes.filter((o) => o.status === 'failed').map((o) => o.name);
    assert.deepEqual(failed, ['work'], `${phase}: ${JSON.stringify(outcomes)}`);
    assert.ok(mem.qubes.get('work')!.tags.includes(IN_PROGRESS_TAG), `${phase}: work keeps the tag`);
    for (const n of ['debian-12', 'sys-firewall', 'dvm'])
      assert.equal(mem.qubes.get(n)!.tags.includes(IN_PROGRESS_TAG), false, `${phase}: ${n}`);
  }
});

/** MemoryQubes whose volumes carry a stamp (Wyng's receive sets the session's) and whose post steps are recorded. */
class StampedQubes extends MemoryQubes {
  stampOf = new Map<string, string>();
  posted: string[] = [];
  override async receive(map: ReadonlyMap<string, Array<[string, string]>>) {
    const failed = await super.receive(map);
    for (const list of map.values()) for (const [, local] of list) this.stampOf.set(local, 'session-mtime');
    return failed;
  }
  async volumeStamp(t: { poolPath: string; localName: string }) {
    return this.stampOf.get(t.localName);
  }
  override async post(n: string, _klass: QubeSettings['klass'], sync: boolean) {
    this.posted.push(sync ? `${n} (synced)` : n);
  }
}

test('post steps run only for qubes whose data or menu settings the restore changed', async () => {
  const mem = new StampedQubes();
  await restore(mem);
  assert.deepEqual(
    mem.posted.sort(),
    ['debian-12 (synced)', 'dvm', 'sys-firewall', 'work'],
    'created qubes; the template, whose data was received, is started for the sync',
  );

  mem.posted = [];
  await restore(mem);
  assert.deepEqual(mem.posted, [], 'an unchanged rerun starts no post step');

  mem.stampOf.set('appvms/work/private.img', 'used-since'); // work ran: its data differs from the session
  mem.qubes.get('sys-firewall')!.properties.memory = '999'; // a setting to restore, not one of the menus'
  mem.qubes.get('dvm')!.properties.label = 'blue'; // a menu setting to restore
  mem.qubes.get('debian-12')!.features['menu-items'] = 'xterm.desktop'; // one the archive lacks
  await restore(mem);
  assert.deepEqual(mem.posted.sort(), ['debian-12', 'dvm', 'work'], 'no template start without new data');
  assert.equal(mem.qubes.get('sys-firewall')!.properties.memory, undefined, 'memory restored all the same');

  mem.posted = [];
  mem.stampOf.delete('vm-templates/debian-12/root.img'); // no stamp: its data counts as changed
  await restore(mem);
  assert.deepEqual(mem.posted, ['debian-12 (synced)']);
});

test('menuRelevant: label, template, the menu properties and features; nothing else', () => {
  const change = (name: string) => ({ name, from: 'a', to: 'b' });
  const with_ = (d: Partial<SettingsDiff>): SettingsDiff => ({ ...emptyDiff(), ...d });
  assert.equal(menuRelevant(emptyDiff()), false);
  assert.equal(menuRelevant(with_({ label: change('label') })), true);
  assert.equal(menuRelevant(with_({ template: change('template') })), true);
  assert.equal(menuRelevant(with_({ properties: [change('template_for_dispvms')] })), true);
  for (const f of ['menu-items', 'default-menu-items', 'menu-favorites', 'internal', 'appmenus-dispvm'])
    assert.equal(menuRelevant(with_({ features: [change(f)] })), true, f);
  assert.equal(
    menuRelevant(
      with_({
        properties: ['memory', 'netvm', 'vcpus', 'kernel', 'default_dispvm'].map(change),
        features: ['service.cups', 'internal-x', 'gui'].map(change),
        tags: [{ tag: 't', op: 'add' }],
        firewall: { from: [], to: ['action=drop'] },
        notes: { changed: true, bytes: 3 },
      }),
    ),
    false,
  );
});

test('overwritten qubes: volumes located as existing before any write; a created one once it exists', async () => {
  const mem = new MemoryQubes();
  await restore(mem);
  mem.qubes.delete('work');
  mem.qubes.get('dvm')!.properties.memory = '4000';
  mem.located = [];
  mem.writes = 0;
  mem.calls = [];
  const { outcomes } = await restore(mem);
  assert.ok(outcomes.every((o) => o.status === 'restored'));
  const existing = mem.located.filter(([, e]) => e);
  assert.deepEqual(existing.map(([v]) => v).sort(), [
    'debian-12/private',
    'debian-12/root',
    'dvm/private',
    'sys-firewall/private',
  ]);
  assert.ok(
    existing.every(([, , writes]) => writes === 0),
    'located before any write',
  );
  const created = mem.located.filter(([, e]) => !e);
  assert.deepEqual(
    created.map(([v]) => v),
    ['work/private'],
  );
  assert.ok(created[0]![2] > mem.calls.indexOf('create work'), 'located once it exists');
  assertEqualsArchive(mem);
});
