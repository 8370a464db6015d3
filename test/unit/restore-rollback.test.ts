// Rollback detection (issue 14 §5, core/restore/rollback.ts): the decision per qube from dom0's
// backup record, the archive's sessions and the digest of the metadata received; and the record's
// schema (a hostile or damaged record is refused by the reader, not trusted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BackupRecordSchema,
  checkRollback,
  EMPTY_BACKUP_RECORD,
  withRecordedSession,
  type RecordedSession,
  type RollbackInput,
} from '../../src/core/restore/rollback.ts';

const S1 = '20260101-100000';
const S2 = '20260102-100000';
const S3 = '20260103-100000';
const D1 = 'a'.repeat(64);
const D2 = 'b'.repeat(64);
const D3 = 'c'.repeat(64);

function rec(qubes: string[], metadataSha256: string): RecordedSession {
  return { qubes, volumes: qubes.map((q) => `appvms/${q}/private.img`), metadataSha256, recordedAt: 'now' };
}

const recorded = { [S1]: rec(['work', 'vault'], D1), [S2]: rec(['work'], D2), [S3]: rec(['vault'], D3) };

function run(over: Partial<RollbackInput>): ReturnType<typeof checkRollback> {
  return checkRollback({
    recorded,
    session: S2,
    explicitSession: false,
    qubes: ['work'],
    archiveSessions: { work: [S1, S2], vault: [S1, S3] },
    metadataSha256: D2,
    ...over,
  });
}

test('no record of the archive: unchecked, with a note saying so; nothing stops', () => {
  for (const r of [undefined, {}]) {
    const c = run({ recorded: r });
    assert.equal(c.checked, false);
    assert.match(c.note ?? '', /cannot check/);
    assert.deepEqual(c.findings, []);
  }
});

test('newest session, as recorded, same metadata: no finding', () => {
  const c = run({});
  assert.equal(c.checked, true);
  assert.deepEqual(c.findings, []);
});

test('newest session selected while dom0 sent a newer one the archive lost: stops, naming the lost session', () => {
  // S2 of work was pruned behind dom0's back: the archive's newest of work is S1
  const c = run({ session: S1, metadataSha256: D1, archiveSessions: { work: [S1] } });
  assert.equal(c.findings.length, 1);
  const f = c.findings[0]!;
  assert.deepEqual([f.qube, f.kind, f.stops], ['work', 'newer-session-missing', true]);
  assert.match(f.message, new RegExp(`${S2}.*no longer`));
  // vault was not in S2: its newest recorded is S3 (also lost here) — it stops too
  const v = run({ session: S1, metadataSha256: D1, qubes: ['vault'], archiveSessions: { vault: [S1] } });
  assert.equal(v.findings[0]?.kind, 'newer-session-missing');
});

test('a swapped metadata volume (digest differs from the record) stops, also with an explicit --session', () => {
  for (const explicitSession of [false, true]) {
    const c = run({ metadataSha256: D3, explicitSession, qubes: ['work', 'vault'] });
    assert.deepEqual(
      c.findings.map((f) => [f.qube, f.kind, f.stops]),
      [
        ['work', 'metadata-differs', true],
        ['vault', 'metadata-differs', true],
      ],
    );
    assert.match(c.findings[0]!.message, /differs from what dom0 sent/);
  }
});

test('an explicit --session older than the newest is only noted', () => {
  const c = run({ session: S1, metadataSha256: D1, explicitSession: true });
  assert.deepEqual(
    c.findings.map((f) => [f.qube, f.kind, f.stops]),
    [['work', 'older-session-chosen', false]],
  );
  // also when the newer session is only in the archive (not in the record)
  const d = run({
    session: S1,
    metadataSha256: D1,
    explicitSession: true,
    archiveSessions: { work: [S1, '20260109-000000'] },
  });
  assert.equal(d.findings[0]?.kind, 'older-session-chosen');
});

test('a session newer than the record (made elsewhere): noted as unchecked, does not stop', () => {
  const S9 = '20260109-000000';
  const c = run({ session: S9, metadataSha256: D1, archiveSessions: { work: [S1, S2, S9] } });
  assert.deepEqual(
    c.findings.map((f) => [f.kind, f.stops]),
    [['not-recorded', false]],
  );
});

test('the record schema: a recorded session round-trips; bad ids, digests, keys and control chars are refused', () => {
  const r = withRecordedSession(EMPTY_BACKUP_RECORD, 'file:/a', S1, rec(['work'], D1));
  const r2 = withRecordedSession(r, 'file:/a', S2, rec(['vault'], D2));
  assert.deepEqual(Object.keys(r2.archives['file:/a']!), [S1, S2]);
  assert.equal(BackupRecordSchema.safeParse(JSON.parse(JSON.stringify(r2))).success, true);
  const bad: unknown[] = [
    { version: 2, archives: {} },
    { version: 1, archives: { 'file:/a': { 'not-a-session': rec(['w'], D1) } } },
    { version: 1, archives: { 'file:/a': { [S1]: { ...rec(['w'], D1), metadataSha256: 'x' } } } },
    { version: 1, archives: { 'file:/a': { [S1]: { ...rec(['w'], D1), extra: 1 } } } },
    { version: 1, archives: { 'file:/a': { [S1]: rec(['w\x1b[8m'], D1) } } },
    { version: 1 },
  ];
  for (const doc of bad) assert.equal(BackupRecordSchema.safeParse(doc).success, false, JSON.stringify(doc));
});
