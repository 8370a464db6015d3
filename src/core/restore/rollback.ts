import * as z from 'zod';
import { qubesSessionsOf, type ArchiveModel } from '../archive.ts';

/**
 * Rollback detection (issue 14 §5): dom0's own record of the backups it made, and the pure decision
 * whether a restore brings back an older state of a qube than dom0 last backed up.
 *
 * The record (`backups.json` in the state dir, adapters/backup-record.ts) lists per archive URL every
 * session dom0 sent: its qubes and volumes and the sha256 of the metadata volume's tar as sent.
 */
const SessionIdSchema = z.string().regex(/^\d{8}-\d{6}$/);
const NameSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[^\0-\x1f\x7f]+$/, 'must not contain control characters');

export const RecordedSessionSchema = z.strictObject({
  qubes: z.array(NameSchema).max(10_000),
  volumes: z.array(NameSchema).max(20_000),
  metadataSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** ISO time the record was written (information only) */
  recordedAt: z.string().max(64),
});
export type RecordedSession = z.output<typeof RecordedSessionSchema>;

export const BackupRecordSchema = z.strictObject({
  version: z.literal(1),
  /** archive URL (as Wyng lists it) → session id → what dom0 sent */
  archives: z.record(z.string().min(1).max(4096), z.record(SessionIdSchema, RecordedSessionSchema)),
});
export type BackupRecord = z.output<typeof BackupRecordSchema>;

export const EMPTY_BACKUP_RECORD: BackupRecord = { version: 1, archives: {} };

/** The record with one more session of one archive (pure; the adapter writes it). */
export function withRecordedSession(
  record: BackupRecord,
  url: string,
  session: string,
  entry: RecordedSession,
): BackupRecord {
  return {
    version: 1,
    archives: { ...record.archives, [url]: { ...(record.archives[url] ?? {}), [session]: entry } },
  };
}

/**
 * What wyng-qubes itself removed from the archive (`prune`, `delete`), per recorded session and
 * qube: the record forgets it, so a later restore does not report our own removal as a rollback.
 */
export interface RemovedFromSession {
  session: string;
  qube: string;
  /** the qube's archive volumes no longer in the session */
  volumes: string[];
  /** true: the qube has no Qubes session `session` any more (its entry leaves the recorded session) */
  qubeGone: boolean;
}

/**
 * The record without what was removed (pure). A recorded session left with no qube is dropped;
 * sessions, qubes and volumes not named stay as they are (a removal behind dom0's back still shows).
 */
export function withoutRemoved(
  record: BackupRecord,
  url: string,
  removed: readonly RemovedFromSession[],
): BackupRecord {
  const archive = record.archives[url];
  if (archive === undefined || removed.length === 0) return record;
  const next: Record<string, RecordedSession> = { ...archive };
  for (const r of removed) {
    const entry = next[r.session];
    if (entry === undefined) continue;
    const qubes = r.qubeGone ? entry.qubes.filter((q) => q !== r.qube) : entry.qubes;
    const volumes = entry.volumes.filter((v) => !r.volumes.includes(v));
    if (qubes.length === 0) delete next[r.session];
    else next[r.session] = { ...entry, qubes, volumes };
  }
  return { version: 1, archives: { ...record.archives, [url]: next } };
}

/**
 * What a prune run by wyng-qubes removed, as the archive shows it before and after (Wyng reports
 * only counts): for each of `qubes`, its Qubes sessions listed before and gone after. Only what
 * both listings confirm: a session already missing before the prune is not ours to forget.
 */
export function prunedFromArchive(
  before: ArchiveModel,
  after: ArchiveModel,
  qubes: readonly string[],
): RemovedFromSession[] {
  const out: RemovedFromSession[] = [];
  for (const qube of qubes) {
    const still = new Set(qubesSessionsOf(after, qube));
    for (const session of qubesSessionsOf(before, qube)) {
      if (still.has(session)) continue;
      const all = before.qubeSessions[qube]?.[session]?.all ?? [];
      const volumes = all.filter((v) => !(after.volumeSessions[v] ?? []).includes(session));
      out.push({ session, qube, volumes, qubeGone: true });
    }
  }
  return out;
}

/**
 * What `delete QUBE` removed: the volumes Wyng confirmed deleted, from every session that held
 * them. The qube leaves a session only when all its volumes there were deleted.
 */
export function deletedFromArchive(
  before: ArchiveModel,
  qube: string,
  deleted: readonly string[],
): RemovedFromSession[] {
  const gone = new Set(deleted);
  const out: RemovedFromSession[] = [];
  for (const [session, vols] of Object.entries(before.qubeSessions[qube] ?? {})) {
    const volumes = vols.all.filter((v) => gone.has(v));
    if (volumes.length > 0) out.push({ session, qube, volumes, qubeGone: volumes.length === vols.all.length });
  }
  return out;
}

export type RollbackKind = 'newer-session-missing' | 'metadata-differs' | 'older-session-chosen' | 'not-recorded';

export interface RollbackFinding {
  qube: string;
  kind: RollbackKind;
  /** true: the qube stops unless approved (`--allow-rollback`, the profile, or the user at the prompt) */
  stops: boolean;
  message: string;
}

export interface RollbackCheck {
  /** false on a machine without a record of this archive (a new dom0, or backups made elsewhere) */
  checked: boolean;
  note?: string;
  findings: RollbackFinding[];
}

export interface RollbackInput {
  /** dom0's record of this archive (undefined: none) */
  recorded: Readonly<Record<string, RecordedSession>> | undefined;
  /** the session the restore uses */
  session: string;
  /** true when `--session` chose it; false when it is the newest session of the named qubes */
  explicitSession: boolean;
  /** the qubes the restore selected */
  qubes: readonly string[];
  /** qube → the Qubes sessions the archive holds for it now, oldest first */
  archiveSessions: Readonly<Record<string, readonly string[]>>;
  /** sha256 of the session's metadata tar as received */
  metadataSha256: string;
}

/**
 * The rollback decision, per selected qube:
 *  - the session's metadata differs from what dom0 sent in that session → stops (swapped metadata;
 *    also for an explicit `--session`: that is not a choice of the user);
 *  - "newest" was selected but dom0 sent a newer session of the qube that the archive no longer
 *    holds (pruned or deleted behind dom0's back) → stops;
 *  - an explicit `--session` older than the newest session known for the qube → noted only;
 *  - the session is not in the record (made by another machine, or before the record existed) → noted.
 */
export function checkRollback(input: RollbackInput): RollbackCheck {
  if (input.recorded === undefined || Object.keys(input.recorded).length === 0) {
    return {
      checked: false,
      note:
        'dom0 has no record of backups to this archive (a new machine, or backups made elsewhere): ' +
        'cannot check whether a qube is rolled back to an older session.',
      findings: [],
    };
  }
  const recorded = input.recorded;
  const entry = recorded[input.session];
  const findings: RollbackFinding[] = [];
  for (const qube of input.qubes) {
    if (entry !== undefined && entry.metadataSha256 !== input.metadataSha256) {
      findings.push({
        qube,
        kind: 'metadata-differs',
        stops: true,
        message:
          `The Qubes metadata of session ${input.session} differs from what dom0 sent in that session ` +
          `(the archive's copy was replaced): not restoring ${qube} from it.`,
      });
      continue;
    }
    const recordedOfQube = Object.keys(recorded)
      .filter((s) => recorded[s]!.qubes.includes(qube))
      .sort();
    const newestRecorded = recordedOfQube[recordedOfQube.length - 1];
    const inArchive = input.archiveSessions[qube] ?? [];
    const newestKnown = [newestRecorded, inArchive[inArchive.length - 1]].filter((s) => s !== undefined).sort();
    const newest = newestKnown[newestKnown.length - 1];
    if (input.explicitSession) {
      if (newest !== undefined && newest > input.session) {
        findings.push({
          qube,
          kind: 'older-session-chosen',
          stops: false,
          message: `${qube}: --session ${input.session} is older than its newest session ${newest} (your choice).`,
        });
      }
    } else if (newestRecorded !== undefined && newestRecorded > input.session) {
      const missing = recordedOfQube.filter((s) => s > input.session && !inArchive.includes(s));
      findings.push({
        qube,
        kind: 'newer-session-missing',
        stops: true,
        message:
          `dom0 backed up ${qube} in session ${missing.join(', ') || newestRecorded}, which the archive no longer ` +
          `holds: its newest session there, ${input.session}, is older (a rollback).`,
      });
      continue;
    }
    if (entry === undefined) {
      findings.push({
        qube,
        kind: 'not-recorded',
        stops: false,
        message: `Session ${input.session} is not in dom0's backup record (made elsewhere?): ${qube} is unchecked.`,
      });
    }
  }
  return { checked: true, findings };
}

/** What to tell the user about a finding that stops a qube. */
export function rollbackApproval(unattended: boolean): string {
  return unattended
    ? 'Refused (unattended): give --allow-rollback (profile: restore.allow_rollback: true) to restore it anyway.'
    : 'Answer yes to restore it anyway.';
}
