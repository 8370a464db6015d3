// What a remote caller may learn from an operation's result (issue 14 §3). Pure.
//
// Errors of the operation itself can carry dom0 details: file paths, a hook's argv and output,
// Wyng's stderr lines, the archive URL, qubesd's messages. A caller gets generic text per error
// kind with a reference id; the full text goes to the dom0 log under the same id. Errors about
// the caller's own request (`forbidden`, `selection`, `option`, `no-sessions`) are built from
// the request and the profile and stay as they are. Results lose the archive URL, pool details
// and per-qube error text.
import { randomBytes } from 'node:crypto';
import type { ErrorKind, ErrorRecord } from '../core/errors.ts';

/** Kinds whose message speaks only about the caller's request and the profile. */
const CALLER_FACING: ReadonlySet<string> = new Set<ErrorKind>(['forbidden', 'selection', 'option', 'no-sessions']);

const GENERIC: Readonly<Record<string, string>> = {
  busy: 'Another wyng-qubes job is running; try again later.',
  auth: 'The archive could not be authenticated.',
  storage: 'The archive storage failed.',
  wyng: 'Wyng failed.',
  interrupted: 'The job was interrupted.',
  hook: 'A hook of the profile failed; the job did not run.',
  config: 'dom0 is not set up for this call.',
  'admin-api': 'The Qubes Admin API refused or failed a call.',
  'qubes-failed': 'Some qubes failed.',
  input: 'The archive or the request could not be used.',
};

export interface Redacted<T> {
  value: T;
  /** the details withheld from the caller, one line each, for the dom0 log */
  withheld: string[];
}

function generic(kind: string, ref: string, qube: string | undefined): string {
  const base = qube !== undefined && kind === 'qubes-failed' ? `'${qube}' failed.` : (GENERIC[kind] ?? 'It failed.');
  return `${base} Reference ${ref}: the dom0 log has the details.`;
}

/** An error record as a report or an envelope holds it. */
type AnyError = Omit<ErrorRecord, 'kind'> & { kind: string };

export function redactErrors<E extends AnyError>(errors: readonly E[], ref: string): Redacted<E[]> {
  const withheld: string[] = [];
  const value = errors.map((e): E => {
    if (CALLER_FACING.has(e.kind)) return e;
    withheld.push(`${e.kind}${e.qube !== undefined ? ` (${e.qube})` : ''}: ${e.message}`);
    const message = generic(e.kind, ref, e.qube);
    return { ...e, message };
  });
  return { value, withheld };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A command's result as a caller sees it: no archive URL (`archive.url` → null), no `pools`,
 * per-qube `error` text replaced by the reference.
 */
export function redactResult(result: unknown, ref: string): Redacted<unknown> {
  const withheld: string[] = [];
  if (!isRecord(result)) return { value: result, withheld };
  const out: Record<string, unknown> = { ...result };
  if (isRecord(out.archive) && out.archive.url !== undefined) {
    if (out.archive.url !== null) withheld.push(`archive url: ${String(out.archive.url)}`);
    out.archive = { ...out.archive, url: null };
  }
  if (out.pools !== undefined) {
    withheld.push('pools');
    delete out.pools;
  }
  if (Array.isArray(out.qubes)) {
    out.qubes = out.qubes.map((q: unknown) => {
      if (!isRecord(q) || typeof q.error !== 'string') return q;
      withheld.push(`${String(q.name)}: ${q.error}`);
      return { ...q, error: `failed. Reference ${ref}: the dom0 log has the details.` };
    });
  }
  return { value: out, withheld };
}

/** A short random reference tying a caller's error to the dom0 log line. */
export function newReference(): string {
  return randomBytes(4).toString('hex');
}
