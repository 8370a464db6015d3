// The reach classes a restore may be approved for (issue 14; the classifier is core/restore/reach.ts).
// Small and free of the planning modules: the CLI's option table reads it.
import { WqError } from './errors.ts';
import { printable } from './names.ts';

export const REACH_CLASSES = ['devices', 'network', 'gui', 'tags', 'features', 'class'] as const;
export type ReachClass = (typeof REACH_CLASSES)[number];
/** An approval keyword: one class or `all`. */
export type ReachApproval = ReachClass | 'all';
export const REACH_APPROVALS: readonly ReachApproval[] = [...REACH_CLASSES, 'all'];

/** Parses approval keywords (`devices,tags` or a list); unknown words are an input error. */
export function parseReachApprovals(words: string | readonly string[]): Set<ReachApproval> {
  const list = typeof words === 'string' ? words.split(',') : words;
  const out = new Set<ReachApproval>();
  for (const raw of list) {
    const w = raw.trim();
    if (w === '') continue;
    if (!(REACH_APPROVALS as readonly string[]).includes(w)) {
      throw new WqError('input', `Unknown reach class '${printable(w)}' (expected ${REACH_APPROVALS.join(', ')}).`);
    }
    out.add(w as ReachApproval);
  }
  return out;
}
