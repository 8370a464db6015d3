import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WqError } from '../core/errors.ts';
import {
  BackupRecordSchema,
  EMPTY_BACKUP_RECORD,
  withoutRemoved,
  withRecordedSession,
  type BackupRecord,
  type RecordedSession,
  type RemovedFromSession,
} from '../core/restore/rollback.ts';
import { describeZodError } from '../core/options.ts';
import { writeFileAtomic } from './fs/atomic.ts';

/** dom0's record of the backups it made (README "Files"; issue 14 §5), in the state dir. */
export const BACKUP_RECORD_FILE = 'backups.json';

/** The largest record read (a record of many thousands of sessions stays far below). */
const MAX_RECORD_BYTES = 32 * 1024 * 1024;

export function backupRecordPath(stateDir: string): string {
  return join(stateDir, BACKUP_RECORD_FILE);
}

/**
 * Reads and checks the record; a missing file is an empty record. Anything else that is not a
 * regular file with a valid record is a `config` error (a restore does not guess).
 */
export function readBackupRecord(stateDir: string): BackupRecord {
  const path = backupRecordPath(stateDir);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return EMPTY_BACKUP_RECORD;
  const bad = (why: string): WqError =>
    new WqError('config', `dom0's backup record '${path}' is unusable (${why}); fix or remove it.`);
  if (!st.isFile()) throw bad('not a regular file');
  if (st.size > MAX_RECORD_BYTES) throw bad(`larger than ${MAX_RECORD_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw bad((err as Error).message);
  }
  const parsed = BackupRecordSchema.safeParse(doc);
  if (!parsed.success) throw bad(describeZodError(parsed.error, 'record'));
  return parsed.data;
}

/** Adds one session to the record (atomic replace, 0600 in the 0700 state dir). */
export function recordBackupSession(stateDir: string, url: string, session: string, entry: RecordedSession): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const next = withRecordedSession(readBackupRecord(stateDir), url, session, entry);
  writeFileAtomic(backupRecordPath(stateDir), `${JSON.stringify(next, null, 1)}\n`, { mode: 0o600 });
}

/**
 * Forgets what wyng-qubes itself removed from the archive (prune, delete): atomic replace. No
 * record of the archive, or nothing removed: nothing is written. Returns whether it wrote.
 */
export function forgetRemoved(stateDir: string, url: string, removed: readonly RemovedFromSession[]): boolean {
  if (removed.length === 0) return false;
  const record = readBackupRecord(stateDir);
  if (record.archives[url] === undefined) return false;
  const next = withoutRemoved(record, url, removed);
  writeFileAtomic(backupRecordPath(stateDir), `${JSON.stringify(next, null, 1)}\n`, { mode: 0o600 });
  return true;
}

/** Whether dom0's record holds any session of this archive (a damaged record counts as yes). */
export function hasRecordOf(stateDir: string, url: string): boolean {
  try {
    return Object.keys(readBackupRecord(stateDir).archives[url] ?? {}).length > 0;
  } catch {
    return true;
  }
}
