// dom0's backup record on disk (adapters/backup-record.ts): missing = empty; written atomically with
// mode 0600 and read back; anything damaged, oversized or not a regular file is a `config` error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupRecordPath, readBackupRecord, recordBackupSession } from '../../src/adapters/backup-record.ts';
import { WqError } from '../../src/core/errors.ts';

const entry = (q: string) => ({
  qubes: [q],
  volumes: [`appvms/${q}/private.img`],
  metadataSha256: 'e'.repeat(64),
  recordedAt: '2026-01-01T00:00:00.000Z',
});

test('missing record is empty; sessions add up; 0600; no temp file left', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-record-'));
  try {
    const state = join(dir, 'state');
    assert.deepEqual(readBackupRecord(state), { version: 1, archives: {} });
    recordBackupSession(state, 'file:/a', '20260101-000000', entry('work'));
    recordBackupSession(state, 'file:/a', '20260102-000000', entry('vault'));
    recordBackupSession(state, 'file:/b', '20260102-000000', entry('work'));
    const r = readBackupRecord(state);
    assert.deepEqual(Object.keys(r.archives['file:/a']!), ['20260101-000000', '20260102-000000']);
    assert.deepEqual(r.archives['file:/b']!['20260102-000000']!.qubes, ['work']);
    assert.equal(statSync(backupRecordPath(state)).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(state), ['backups.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged record, a symlink or a directory is a config error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-record-'));
  try {
    const cases: Array<[string, () => void]> = [
      ['bad json', () => writeFileSync(backupRecordPath(dir), '{')],
      ['bad schema', () => writeFileSync(backupRecordPath(dir), '{"version":1,"archives":{"x":{"bad":{}}}}')],
      ['symlink', () => symlinkSync('/etc/hostname', backupRecordPath(dir))],
    ];
    for (const [what, make] of cases) {
      rmSync(backupRecordPath(dir), { force: true });
      make();
      assert.throws(
        () => readBackupRecord(dir),
        (e: unknown) => e instanceof WqError && e.kind === 'config' && e.message.includes('backups.json'),
        what,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
