/**
 * The one error type of wyng-qubes. Every failure that reaches a user carries a `kind`;
 * `exitCodeFor` is the only place where a kind becomes a process exit code
 * (README "Exit codes").
 */
export const ERROR_KINDS = [
  'no-sessions', // 1: the archive holds no session with wyng-qubes-metadata
  'qubes-failed', // 2: some qubes failed ("Error for VMs: a, b")
  'auth', // 3: Wyng authentication error
  'storage', // 5/6/7: Wyng storage error (Wyng's own code)
  'interrupted', // 8: interrupted by a signal (Wyng's interrupt code)
  'selection', // 9: nothing / something ambiguous selected
  'option', // 9: bad command line option
  'input', // 9: bad input (names, request, archive metadata)
  'busy', // 9: another wyng-qubes job holds the lock
  'config', // 9: bad configuration (profiles.yaml, state dir)
  'not-implemented', // 9: command not available in this build
  'forbidden', // 9: an RPC request outside what its profile allows
  'hook', // 9: a profile's hooks.before command failed; the job did not run
  'policy-refused', // 126: qrexec refused the call (policy deny, declined prompt) — remote client
  'no-service', // 127: the qrexec service is not installed in dom0 — remote client
  'qrexec', // 125: qrexec itself failed (bad service file, resources) — remote client
  'wyng', // Wyng failed: Wyng's own exit code
  'admin-api', // 1: the Qubes Admin API (qubesd) refused or failed a call
  'internal', // 1: a bug or an unexpected condition
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface ErrorRecord {
  qube?: string;
  kind: ErrorKind;
  message: string;
}

export class WqError extends Error {
  readonly kind: ErrorKind;
  readonly qube: string | undefined;
  /** The exit code of the Wyng process behind this error, when there was one. */
  readonly wyngCode: number | undefined;
  /** For admin-api errors: qubesd's exception class name (QubesVMNotFoundError, ...). */
  readonly remoteType: string | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    extra: { qube?: string; wyngCode?: number; remoteType?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'WqError';
    this.kind = kind;
    this.qube = extra.qube;
    this.wyngCode = extra.wyngCode;
    this.remoteType = extra.remoteType;
  }

  get exitCode(): number {
    return exitCodeFor(this.kind, this.wyngCode);
  }

  toRecord(): ErrorRecord {
    return this.qube === undefined
      ? { kind: this.kind, message: this.message }
      : { qube: this.qube, kind: this.kind, message: this.message };
  }
}

/** Ctrl-C at a `Continue [y/N]` prompt: nothing was done; exit 8 with `cancelled: true` (README "Prompts"). */
export class PromptInterrupted extends WqError {
  constructor() {
    super('interrupted', 'Cancelled (Ctrl-C at the prompt); nothing was changed.');
  }
}

/** The single mapping from error kind to exit status. */
export function exitCodeFor(kind: ErrorKind, wyngCode?: number): number {
  switch (kind) {
    case 'no-sessions':
      return 1;
    case 'qubes-failed':
      return 2;
    case 'auth':
      return 3;
    case 'storage':
      return wyngCode === 5 || wyngCode === 6 || wyngCode === 7 ? wyngCode : 5;
    case 'interrupted':
      return 8;
    case 'selection':
    case 'option':
    case 'input':
    case 'busy':
    case 'config':
    case 'not-implemented':
    case 'forbidden':
    case 'hook':
      return 9;
    case 'policy-refused':
      return 126;
    case 'no-service':
      return 127;
    case 'qrexec':
      return 125;
    case 'wyng':
      return wyngCode !== undefined && wyngCode > 0 ? wyngCode : 1;
    case 'admin-api':
    case 'internal':
      return 1;
  }
}

/**
 * The error of one qube that failed in a per-qube command (backup, restore, verify, delete):
 * the same kind everywhere, so the run ends with exit 2 ("Error for VMs: a, b").
 */
export function qubeFailure(qube: string | undefined, message: string): ErrorRecord {
  return qube === undefined ? { kind: 'qubes-failed', message } : { qube, kind: 'qubes-failed', message };
}

/** Turns anything thrown into a WqError (unknown errors become `internal`). */
export function toWqError(err: unknown): WqError {
  if (err instanceof WqError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WqError('internal', message, { cause: err });
}
