import { forgetRemoved, hasRecordOf } from '../adapters/backup-record.ts';
import type { RemovedFromSession } from '../core/restore/rollback.ts';
import type { AppContext } from './ports.ts';

/**
 * After a prune or delete run by wyng-qubes: dom0's backup record forgets what Wyng confirmed
 * removed, so the rollback check of a later restore (core/restore/rollback.ts) does not take our
 * own removal for one behind dom0's back. Best effort: the removal happened whatever the record
 * says; a record that cannot be updated is a warning (the restore then reports a rollback, which
 * `--allow-rollback` passes), never a failed prune or delete.
 */
export async function forgetInRecord(
  ctx: AppContext,
  url: string,
  removed: () => Promise<RemovedFromSession[]> | RemovedFromSession[],
): Promise<void> {
  if (!hasRecordOf(ctx.config.stateDir, url)) return; // nothing recorded: nothing to forget (and no extra list)
  try {
    forgetRemoved(ctx.config.stateDir, url, await removed());
  } catch (err) {
    ctx.warn(
      `Warning: dom0's backup record was not updated (${(err as Error).message}): a restore may report the ` +
        'removed sessions as a rollback (--allow-rollback restores anyway).',
    );
  }
}
