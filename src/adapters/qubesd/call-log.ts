// In-memory log of every Admin API call a client made (cache hits are not calls), so that the
// call count of any command can be measured (`--debug` prints it, benchmarks count it).
import { WqError } from '../../core/errors.ts';
import { QubesApiError, QubesTransportError } from '../../core/qubesapi/errors.ts';

export type CallKind = 'read' | 'write';

export interface CallLogEntry {
  seq: number;
  method: string;
  dest: string;
  arg: string;
  kind: CallKind;
  /** ms since the log was created */
  startMs: number;
  durationMs: number;
  /** `ok`, qubesd's exception class name, `transport:<reason>` or `input` (refused, not sent) */
  outcome: string;
}

export interface CallSummary {
  calls: number;
  reads: number;
  writes: number;
  failed: number;
  totalMs: number;
  byMethod: Record<string, number>;
}

export function outcomeOf(err: unknown): string {
  if (err instanceof QubesApiError) return err.type;
  if (err instanceof QubesTransportError) return `transport:${err.reason}`;
  if (err instanceof WqError && err.kind === 'input') return 'input';
  return 'error';
}

export class CallLog {
  readonly entries: CallLogEntry[] = [];
  private readonly t0: number;
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
    this.t0 = now();
  }

  /** Times `fn` and records it. */
  async record<T>(
    call: { method: string; dest: string; arg: string; kind: CallKind },
    fn: () => Promise<T>,
  ): Promise<T> {
    const start = this.now();
    const entry: CallLogEntry = {
      seq: this.entries.length + 1,
      ...call,
      startMs: start - this.t0,
      durationMs: 0,
      outcome: 'ok',
    };
    this.entries.push(entry);
    try {
      return await fn();
    } catch (err) {
      entry.outcome = outcomeOf(err);
      throw err;
    } finally {
      entry.durationMs = this.now() - start;
    }
  }

  summary(): CallSummary {
    const byMethod: Record<string, number> = {};
    let reads = 0;
    let failed = 0;
    let totalMs = 0;
    for (const e of this.entries) {
      byMethod[e.method] = (byMethod[e.method] ?? 0) + 1;
      if (e.kind === 'read') reads++;
      if (e.outcome !== 'ok') failed++;
      totalMs += e.durationMs;
    }
    return { calls: this.entries.length, reads, writes: this.entries.length - reads, failed, totalMs, byMethod };
  }

  /** One line per call, then a summary line: what `--debug` prints. */
  format(): string[] {
    const lines = this.entries.map(
      (e) =>
        `qubesd #${e.seq} ${e.kind} ${e.method}+${e.arg} → ${e.dest}: ${e.outcome} (${e.durationMs.toFixed(1)} ms)`,
    );
    const s = this.summary();
    lines.push(
      `qubesd calls: ${s.calls} (${s.reads} reads, ${s.writes} writes, ${s.failed} failed), ` +
        `${s.totalMs.toFixed(1)} ms in calls`,
    );
    return lines;
  }

  clear(): void {
    this.entries.length = 0;
  }
}
