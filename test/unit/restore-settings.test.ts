import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QubesSystem } from '../../src/app/ports.ts';
import { confirmedSettings } from '../../src/app/restore-settings.ts';
import type { ArchivedSystem, QubeSettings, SettingsPart } from '../../src/core/qubes/model.ts';
import { tableNormaliser } from '../../src/core/restore/diff.ts';
import { planRestore, type LiveQube } from '../../src/core/restore/plan.ts';

const qube = (name: string, memory: string, tags: string[] = []): QubeSettings => ({
  name,
  klass: 'AppVM',
  properties: { label: 'red', memory },
  features: {},
  tags,
  devices: [],
  firewall: ['action=accept'],
});
const archived: ArchivedSystem = {
  globals: {},
  labels: [],
  pools: [],
  qubes: [qube('a', '400'), qube('b', '400'), qube('c', '400')],
};
const liveQubes: LiveQube[] = archived.qubes.map((q) => ({ name: q.name, klass: q.klass, state: 'Halted' }));
const planFrom = (settings: Map<string, QubeSettings>) =>
  planRestore({
    session: '20261123-034701',
    archived,
    archivedNotes: {},
    sessionVolumes: { a: { private: 'appvms/a/private.img' }, b: {}, c: {} },
    live: { qubes: liveQubes, settings, notes: {}, globals: {}, runningDispvmTemplates: {} },
    request: {
      qubes: [],
      exclude: [],
      includeDisposable: false,
      skip: new Set(),
      ignoreMissing: false,
      forceIncomplete: false,
    },
    normalise: tableNormaliser,
  });

/** A live system whose files say one thing and whose qubesd holds another; counts qubesd reads. */
function system(files: QubeSettings[] | undefined, qubesd: QubeSettings[]) {
  const reads: Array<[string, string[]]> = [];
  const live = {
    readSettingsFromFiles: (names: readonly string[]) =>
      files === undefined
        ? undefined
        : new Map(files.filter((q) => names.includes(q.name)).map((q) => [q.name, structuredClone(q)])),
    readSettings: async (names: readonly string[], parts?: ReadonlyMap<string, ReadonlySet<SettingsPart>>) => {
      for (const n of names) reads.push([n, [...(parts?.get(n) ?? ['all'])].sort()]);
      return new Map(qubesd.filter((q) => names.includes(q.name)).map((q) => [q.name, structuredClone(q)]));
    },
  } as unknown as QubesSystem;
  return { live, reads };
}

test('files that match the archive: no qubesd read at all', async () => {
  const s = system(archived.qubes, archived.qubes);
  const settings = await confirmedSettings(s.live, ['a', 'b', 'c'], planFrom);
  assert.deepEqual(s.reads, []);
  assert.equal(planFrom(settings).qubes.filter((q) => q.changeCount > 0).length, 0);
});

test('what the files would change is read again from qubesd, only those parts; `from` is qubesd', async () => {
  // the file says a.memory=999 (stale), qubesd holds 700; b's file is stale the other way (qubesd: unchanged)
  const s = system(
    [qube('a', '999'), qube('b', '123'), qube('c', '400')],
    [qube('a', '700'), qube('b', '400'), qube('c', '400')],
  );
  const plan = planFrom(await confirmedSettings(s.live, ['a', 'b', 'c'], planFrom));
  assert.deepEqual(s.reads, [
    ['a', ['properties']],
    ['b', ['properties']],
  ]);
  const a = plan.qubes.find((q) => q.name === 'a')!;
  assert.deepEqual(
    a.changes.properties.map((p) => [p.name, p.from, p.to]),
    [['memory', '700', '400']],
  );
  assert.equal(plan.qubes.find((q) => q.name === 'b')!.changeCount, 0, 'a stale file causes no write');
});

test('unreadable files, or a qube the file lacks: read from qubesd as a whole', async () => {
  const none = system(undefined, archived.qubes);
  await confirmedSettings(none.live, ['a', 'b'], planFrom);
  assert.deepEqual(none.reads, [
    ['a', ['all']],
    ['b', ['all']],
  ]);
  const partial = system([qube('a', '400')], archived.qubes);
  await confirmedSettings(partial.live, ['a', 'c'], planFrom);
  assert.deepEqual(partial.reads, [['c', ['all']]]);
});
