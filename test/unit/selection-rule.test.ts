// The one rule for "the archived qubes this run touches" (restore and verify share it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectArchivedQubes, type AvailableQube } from '../../src/core/selection.ts';
import { selectRestoreQubes } from '../../src/core/restore/plan.ts';
import type { ArchivedSystem } from '../../src/core/qubes/model.ts';

const AVAILABLE: AvailableQube[] = [
  { name: 'work', disposable: false },
  { name: 'dom0', disposable: false },
  { name: 'vault', disposable: false },
  { name: 'disp1', disposable: true },
  { name: 'work', disposable: false },
];
const request = (
  o: Partial<Parameters<typeof selectArchivedQubes>[1]> = {},
): Parameters<typeof selectArchivedQubes>[1] => ({
  qubes: [],
  exclude: [],
  includeDisposable: false,
  ...o,
});

test('no names: every available qube once, never dom0, disposables only when asked, minus --exclude', () => {
  assert.deepEqual(selectArchivedQubes(AVAILABLE, request()), { selected: ['work', 'vault'], notMatched: [] });
  assert.deepEqual(selectArchivedQubes(AVAILABLE, request({ includeDisposable: true })).selected, [
    'work',
    'vault',
    'disp1',
  ]);
  assert.deepEqual(selectArchivedQubes(AVAILABLE, request({ exclude: ['work'] })).selected, ['vault']);
});

test('names: in the order named, once each, --exclude wins; unknown names (and dom0) are not matched, sorted', () => {
  const r = selectArchivedQubes(AVAILABLE, request({ qubes: ['zeta', 'vault', 'disp1', 'vault', 'dom0', 'alpha'] }));
  assert.deepEqual(r, { selected: ['vault', 'disp1'], notMatched: ['alpha', 'dom0', 'zeta'] });
  const excluded = selectArchivedQubes(AVAILABLE, request({ qubes: ['vault', 'work'], exclude: ['vault'] }));
  assert.deepEqual(excluded, { selected: ['work'], notMatched: [] });
});

test('restore: archived qubes with volumes in the session, or disposables; never the AdminVM', () => {
  const q = (name: string, klass: string) => ({ name, klass, properties: {}, features: {}, tags: [], devices: [] });
  const archived = {
    qubes: [q('dom0', 'AdminVM'), q('work', 'AppVM'), q('old', 'AppVM'), q('disp1', 'DispVM')],
  } as unknown as ArchivedSystem;
  const sessionVolumes = { work: { private: 'appvms/work/private.img' } };
  const base = { qubes: [], exclude: [], includeDisposable: true };
  assert.deepEqual(
    selectRestoreQubes({
      archived,
      sessionVolumes,
      request: { ...base, skip: new Set(), ignoreMissing: false, forceIncomplete: false },
    }),
    {
      selected: ['work', 'disp1'],
      notMatched: [],
    },
  );
  assert.deepEqual(
    selectRestoreQubes({
      archived,
      sessionVolumes,
      request: { ...base, qubes: ['old', 'work'], skip: new Set(), ignoreMissing: false, forceIncomplete: false },
    }),
    { selected: ['work'], notMatched: ['old'] },
  );
});
