// What a restore says besides its plan: the qubes an interrupt left with `backup-restore-in-progress` and the
// command that finishes them, the dry run's note on qubes left so by an earlier run, and the target pool.
import { WqError } from '../core/errors.ts';
import { IN_PROGRESS_TAG } from '../core/restore/diff.ts';
import type { RestorePlan } from '../core/restore/plan.ts';
import type { AppContext, QubesSystem } from './ports.ts';

/** The command line that restores these qubes from this session with this run's archive options. */
export function restoreCommand(ctx: AppContext, session: string, qubes: readonly string[]): string {
  const o = ctx.options;
  const parts = ['wyng-qubes', 'restore'];
  if (o.profile !== undefined) parts.push('--profile', o.profile);
  else if (o.dest !== undefined) parts.push('--dest', o.dest);
  if (o.pool !== undefined) parts.push('--pool', o.pool);
  return [...parts, '--session', session, ...qubes].join(' ');
}

/** Runs the apply step; when Wyng ends the run as a whole, names the qubes left half-restored first. */
export async function reportInterruptedRestore<T>(
  ctx: AppContext,
  live: QubesSystem,
  plan: RestorePlan,
  apply: () => Promise<T>,
): Promise<T> {
  try {
    return await apply();
  } catch (err) {
    if (!(err instanceof WqError) || (err.kind !== 'interrupted' && err.kind !== 'wyng')) throw err;
    const left: string[] = [];
    for (const q of plan.qubes) {
      try {
        if (await live.hasTag(q.name, IN_PROGRESS_TAG)) left.push(q.name);
      } catch {
        // a qube that was never created has no tags
      }
    }
    ctx.warn(`\n${err.kind === 'interrupted' ? 'Interrupted' : 'Stopped'}: ${err.message}`);
    if (left.length > 0) {
      ctx.warn(
        `These qubes keep the tag ${IN_PROGRESS_TAG} (their data may be half-written; do not start them): ` +
          `${left.join(', ')}.\nTo finish: ${restoreCommand(ctx, plan.session, left)}`,
      );
    } else {
      ctx.warn('No qube was changed.');
    }
    throw err;
  }
}

/** Dry-run text: qubes an earlier, unfinished restore left with the tag (the JSON has `staleTag`). */
export function staleTagLines(ctx: AppContext, plan: RestorePlan): string[] {
  const stale = plan.qubes.filter((q) => q.staleTag).map((q) => q.name);
  if (stale.length === 0) return [];
  return [
    `\nLeft unfinished by an earlier restore (tag ${IN_PROGRESS_TAG}): ${stale.join(', ')}.`,
    `Restoring them again finishes that restore: ${restoreCommand(ctx, plan.session, stale)}`,
  ];
}

/**
 * The pool created qubes go to, checked before anything is planned: `--pool` must name a storage pool of
 * this system (else exit 9 — also in a dry run); without it, qubesd's `default_pool`.
 */
export async function targetPool(ctx: AppContext, live: QubesSystem): Promise<{ pool: string | null; line: string }> {
  const wanted = ctx.options.pool;
  if (wanted === undefined) {
    return { pool: null, line: "\nTarget pool for created qubes: the system's default_pool." };
  }
  const names = (await live.adminPools()).map((p) => p.name);
  if (!names.includes(wanted)) {
    throw new WqError('selection', `No storage pool '${wanted}' on this system (pools: ${names.join(', ')}).`);
  }
  return { pool: wanted, line: `\nTarget pool for created qubes: ${wanted}.` };
}
