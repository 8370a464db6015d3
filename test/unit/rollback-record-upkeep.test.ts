// dom0's backup record after a prune or delete run by wyng-qubes (issue 14 §5): the record forgets
// exactly what the archive (prune: listed before and after) or Wyng (delete: per volume) confirms
// removed, and nothing else, so a removal behind dom0's back is still reported as a rollback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArchiveModel } from '../../src/core/archive.ts';
import {
  checkRollback,
  deletedFromArchive,
  prunedFromArchive,
  withoutRemoved,
  type BackupRecord,
} from '../../src/core/restore/rollback.ts';

const URL = 'file:/mnt/b';
const META = 'wyng-qubes-metadata';
const S1 = '20260101-010101';
const S2 = '20260102-010101';
const S3 = '20260103-010101';
const WORK = ['appvms/work/private.img'];
const TPL = ['vm-templates/fedora/private.img', 'vm-templates/fedora/root.img'];

/** An archive model from volume → sessions (the metadata volume makes a session a Qubes session). */
function model(volumes: Record<string, string[]>): ArchiveModel {
  const qubeOf = (v: string): string => v.split('/')[1]!;
  const qubeSessions: ArchiveModel['qubeSessions'] = {};
  const volumeQube: Record<string, string> = {};
  for (const [v, sessions] of Object.entries(volumes)) {
    if (v === META) continue;
    volumeQube[v] = qubeOf(v);
    for (const s of sessions) {
      const q = ((qubeSessions[qubeOf(v)] ??= {})[s] ??= { all: [] });
      q.all.push(v);
    }
  }
  return {
    url: URL,
    encrypted: false,
    authenticated: false,
    updatedAt: '',
    wyngVersion: '',
    wyngDate: '',
    volumeSessions: volumes,
    sessionVolumes: {},
    sessionTags: {},
    qubesSessions: volumes[META] ?? [],
    sessionQubes: {},
    qubeSessions,
    volumeQube,
    volumeSizes: {},
    metadataIdentity: {},
  };
}

const entry = (qubes: string[], volumes: string[]): BackupRecord['archives'][string][string] => ({
  qubes,
  volumes,
  metadataSha256: 'a'.repeat(64),
  recordedAt: '',
});

const record: BackupRecord = {
  version: 1,
  archives: {
    [URL]: {
      [S1]: entry(['fedora', 'work'], [...TPL, ...WORK]),
      [S2]: entry(['work'], WORK),
      [S3]: entry(['fedora'], TPL),
    },
    'file:/other': { [S2]: entry(['work'], WORK) },
  },
};

test('prune of the metadata of S2 (work keeps its data there): work leaves S2, S2 leaves the record', () => {
  const before = model({ [META]: [S1, S2, S3], [WORK[0]!]: [S1, S2], [TPL[0]!]: [S1, S3], [TPL[1]!]: [S1, S3] });
  const after = model({ [META]: [S1, S3], [WORK[0]!]: [S1, S2], [TPL[0]!]: [S1, S3], [TPL[1]!]: [S1, S3] });
  const removed = prunedFromArchive(before, after, ['work', 'fedora']);
  assert.deepEqual(removed, [{ session: S2, qube: 'work', volumes: [], qubeGone: true }]);
  const next = withoutRemoved(record, URL, removed);
  assert.deepEqual(Object.keys(next.archives[URL]!).sort(), [S1, S3]);
  assert.deepEqual(next.archives['file:/other'], record.archives['file:/other'], 'other archives untouched');
  // the rollback check no longer sees a newer session of work that the archive lacks
  const check = checkRollback({
    recorded: next.archives[URL],
    session: S1,
    explicitSession: false,
    qubes: ['work'],
    archiveSessions: { work: [S1] },
    metadataSha256: 'a'.repeat(64),
  });
  assert.deepEqual(check.findings, []);
  const unchanged = checkRollback({
    recorded: record.archives[URL],
    session: S1,
    explicitSession: false,
    qubes: ['work'],
    archiveSessions: { work: [S1] },
    metadataSha256: 'a'.repeat(64),
  });
  assert.equal(unchanged.findings[0]?.kind, 'newer-session-missing');
});

test('a session already missing before the prune stays in the record (removed behind dom0 back)', () => {
  const before = model({ [META]: [S1, S3], [WORK[0]!]: [S1], [TPL[0]!]: [S1, S3], [TPL[1]!]: [S1, S3] });
  const after = model({ [META]: [S3], [WORK[0]!]: [S1], [TPL[0]!]: [S3], [TPL[1]!]: [S3] });
  const removed = prunedFromArchive(before, after, ['fedora']);
  assert.deepEqual(removed, [{ session: S1, qube: 'fedora', volumes: TPL, qubeGone: true }]);
  const next = withoutRemoved(record, URL, removed);
  assert.deepEqual(next.archives[URL]![S1], entry(['work'], WORK));
  assert.deepEqual(next.archives[URL]![S2], record.archives[URL]![S2], 'S2 of work was not ours: kept');
});

test('delete: only the volumes Wyng confirmed; the qube stays where one of its volumes survived', () => {
  const before = model({ [META]: [S1, S3], [TPL[0]!]: [S1, S3], [TPL[1]!]: [S1, S3] });
  const partial = deletedFromArchive(before, 'fedora', [TPL[0]!]);
  assert.deepEqual(
    partial.map((r) => [r.session, r.volumes, r.qubeGone]),
    [
      [S1, [TPL[0]], false],
      [S3, [TPL[0]], false],
    ],
  );
  const kept = withoutRemoved(record, URL, partial);
  assert.deepEqual(kept.archives[URL]![S1], entry(['fedora', 'work'], [TPL[1]!, ...WORK]));
  assert.deepEqual(kept.archives[URL]![S3], entry(['fedora'], [TPL[1]!]));
  const all = withoutRemoved(record, URL, deletedFromArchive(before, 'fedora', TPL));
  assert.deepEqual(all.archives[URL]![S1], entry(['work'], WORK));
  assert.equal(all.archives[URL]![S3], undefined);
  assert.deepEqual(deletedFromArchive(before, 'fedora', []), []);
});

test('nothing removed, or no record of the archive: the record is returned as it is', () => {
  assert.equal(withoutRemoved(record, URL, []), record);
  const removed = [{ session: S2, qube: 'work', volumes: WORK, qubeGone: true }];
  assert.equal(withoutRemoved(record, 'file:/unknown', removed), record);
});
