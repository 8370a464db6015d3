import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** One line of `<state dir>/audit.log` per RPC call (docs/design.md "qrexec services"). Never holds secrets. */
export interface AuditRecord {
  time: string;
  remoteDomain: string;
  service: string;
  profile: string;
  /** sha256 of the request bytes as received. */
  requestSha256: string;
  outcome: 'ok' | 'failed' | 'refused' | 'busy' | 'error';
  exitCode: number;
  durationMs: number;
  /** Which process wrote the line: the entry point (`entry`) or the privileged part. */
  stage: 'entry' | 'privileged' | 'in-process';
  /** The first error's kind and message, when there was one. */
  error?: { kind: string; message: string };
  /** The reference id the caller got with a generic error (details here and in the dom0 log). */
  ref?: string;
  /** The privileged part: the user sudo ran it for (SUDO_USER). */
  sudoUser?: string;
}

export const AUDIT_FILE = 'audit.log';

/**
 * Appends the record to the audit log (O_APPEND, mode 600). Returns false when the log
 * cannot be written (e.g. the unprivileged entry point and a root-owned state dir); the
 * caller then has only the journal line.
 */
export function appendAudit(stateDir: string, record: AuditRecord): boolean {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    appendFileSync(join(stateDir, AUDIT_FILE), `${JSON.stringify(record)}\n`, { mode: 0o600, flag: 'a' });
    return true;
  } catch {
    return false;
  }
}
