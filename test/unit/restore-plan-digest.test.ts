// The plan digest of `restore --expect-plan` (core/restore/plan-digest.ts): a pure function of the
// archived metadata read and the live state the plan was computed against; any change of either
// changes it; the per-qube digest equals the digest of a plan for that qube alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, planDigest, type PlanDigestInput } from '../../src/core/restore/plan-digest.ts';
import type { QubeSettings } from '../../src/core/qubes/model.ts';

function settings(memory: string, tags: string[] = []): QubeSettings {
  return {
    name: 'q',
    klass: 'AppVM',
    properties: { memory, label: 'red' },
    features: { 'service.cups': '1' },
    tags,
    devices: [],
  };
}

function input(over: Partial<PlanDigestInput> = {}): PlanDigestInput {
  return {
    session: '20260101-120000',
    metadata: new Map([
      ['qubes.xml', Buffer.from('<qubes/>')],
      ['appvms/work/notes.txt', Buffer.from('notes')],
    ]),
    selected: ['work', 'vault'],
    notMatched: [],
    sessionVolumes: { work: { private: 'appvms/work/private.img' }, vault: { private: 'appvms/vault/private.img' } },
    live: {
      qubes: [
        { name: 'work', klass: 'AppVM', state: 'Halted' },
        { name: 'vault', klass: 'AppVM', state: 'Halted' },
      ],
      settings: new Map([
        ['work', settings('400')],
        ['vault', settings('800', ['offline'])],
      ]),
      notes: { work: 'hello', vault: '' },
      globals: { default_netvm: 'sys-firewall' },
      runningDispvmTemplates: {},
      deviceApi: '4.3',
    },
    request: {
      exclude: [],
      includeDisposable: false,
      skip: new Set<string>(),
      ignoreMissing: false,
      forceIncomplete: false,
      pool: null,
    },
    ...over,
  };
}

test('canonicalJson: key order, Map vs object and Set order do not matter; arrays keep their order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: 2, c: 3 } }), canonicalJson({ a: { c: 3, d: 2 }, b: 1 }));
  assert.equal(canonicalJson(new Map([['x', 1]])), canonicalJson({ x: 1 }));
  assert.equal(canonicalJson(new Set(['b', 'a'])), canonicalJson(new Set(['a', 'b'])));
  assert.notEqual(canonicalJson(['a', 'b']), canonicalJson(['b', 'a']));
  assert.equal(canonicalJson({ a: undefined, b: 1 }), canonicalJson({ b: 1 }));
});

test('the digest is stable: same inputs (in any order) give the same 64-hex digest', () => {
  const a = planDigest(input());
  const b = planDigest(
    input({
      selected: ['vault', 'work'],
      metadata: new Map([
        ['appvms/work/notes.txt', Buffer.from('notes')],
        ['qubes.xml', Buffer.from('<qubes/>')],
      ]),
    }),
  );
  assert.match(a.planDigest, /^[0-9a-f]{64}$/);
  assert.equal(a.planDigest, b.planDigest);
  assert.deepEqual(a.qubeDigests, b.qubeDigests);
});

test('any change of the archived metadata, the live state or the request changes the digest', () => {
  const base = planDigest(input()).planDigest;
  const variants: Array<[string, Partial<PlanDigestInput>]> = [
    ['session', { session: '20260101-120001' }],
    ['metadata byte', { metadata: new Map([['qubes.xml', Buffer.from('<qubes />')]]) }],
    ['session volumes', { sessionVolumes: { work: { private: 'work/private.img' } } }],
    ['not matched', { notMatched: ['gone'] }],
  ];
  const b = input();
  const liveVariants: Array<[string, PlanDigestInput['live']]> = [
    ['live memory', { ...b.live, settings: new Map([...b.live.settings, ['work', settings('401')]]) }],
    ['live tag', { ...b.live, settings: new Map([...b.live.settings, ['vault', settings('800')]]) }],
    ['live notes', { ...b.live, notes: { work: 'hello!', vault: '' } }],
    ['power state', { ...b.live, qubes: [{ name: 'work', klass: 'AppVM', state: 'Running' }, b.live.qubes[1]!] }],
    ['qube gone', { ...b.live, qubes: [b.live.qubes[1]!] }],
    ['globals', { ...b.live, globals: { default_netvm: 'sys-net' } }],
    ['device api', { ...b.live, deviceApi: '4.2' }],
  ];
  for (const [what, live] of liveVariants) variants.push([what, { live }]);
  variants.push(['--pref', { request: { ...b.request, skip: new Set(['memory']) } }]);
  variants.push(['--pool', { request: { ...b.request, pool: 'vm-pool' } }]);
  variants.push(['--ignore-missing', { request: { ...b.request, ignoreMissing: true } }]);
  const seen = new Set([base]);
  for (const [what, over] of variants) {
    const d = planDigest(input(over)).planDigest;
    assert.notEqual(d, base, `${what} changes the digest`);
    seen.add(d);
  }
  assert.equal(seen.size, variants.length + 1, 'every variant gives its own digest');
});

test("a qube's digest equals the digest of a plan of that qube alone, and ignores the other qubes' state", () => {
  const both = planDigest(input());
  const alone = planDigest(input({ selected: ['work'] }));
  assert.equal(both.qubeDigests.work, alone.planDigest);
  assert.notEqual(both.qubeDigests.work, both.qubeDigests.vault);
  assert.notEqual(both.planDigest, alone.planDigest);
  const b = input();
  const vaultChanged = planDigest(
    input({ live: { ...b.live, settings: new Map([...b.live.settings, ['vault', settings('900')]]) } }),
  );
  assert.equal(vaultChanged.qubeDigests.work, both.qubeDigests.work, "vault's change leaves work's digest");
  assert.notEqual(vaultChanged.qubeDigests.vault, both.qubeDigests.vault);
});
