import { requireQubesSessions } from '../core/archive.ts';
import { deletePreview, removalLines } from '../core/dry-run.ts';
import { qubeFailure, WqError, type ErrorRecord } from '../core/errors.ts';
import { volumesOfQubes } from '../core/selection.ts';
import type { UseCase } from './ports.ts';
import { withJob } from './job.ts';
import { forgetInRecord } from './record-upkeep.ts';
import { deletedFromArchive } from '../core/restore/rollback.ts';
import { confirmContinue, failedQubesOutcome } from './outcome.ts';

/** `delete QUBE`: remove every archive volume of exactly one qube. */
export const deleteUseCase: UseCase = async (ctx) => {
  if (ctx.args.length !== 1) throw new WqError('selection', 'Please specify a single qube name to delete.');
  const qube = ctx.args[0]!;
  return withJob(ctx, async ({ wyng }) => {
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const volumes = volumesOfQubes(model, [qube]);
    if (volumes.length === 0) throw new WqError('selection', `Qube '${qube}' has no volumes in the archive.`);
    if (ctx.options.dryRun) {
      const wouldDelete = deletePreview(model, volumes);
      ctx.say(`\nDry run: delete would remove every session of these volumes of ${qube} (nothing changed):`);
      for (const line of removalLines(wouldDelete)) ctx.say(line);
      return { exitCode: 0, result: { qube, deleted: [], cancelled: false, dryRun: true, wouldDelete }, errors: [] };
    }
    if (!ctx.options.unattended) {
      ctx.say('Warning:  Data cannot be recovered after deleting it from the archive.');
      if (!(await confirmContinue(ctx))) {
        return { exitCode: 0, result: { qube, deleted: [], cancelled: true }, errors: [] };
      }
    }
    const errors: ErrorRecord[] = [];
    const deleted: string[] = [];
    for (const volume of volumes) {
      const report = await wyng.deleteVolume({ volume, verbose: ctx.options.verbose });
      if (report.deleted) {
        deleted.push(volume);
      } else {
        errors.push(qubeFailure(qube, `Could not delete volume '${volume}' (${report.reason}).`));
      }
    }
    // dom0's backup record forgets the volumes Wyng confirmed deleted (a failed one stays recorded)
    await forgetInRecord(ctx, model.url, () => deletedFromArchive(model, qube, deleted));
    return failedQubesOutcome(ctx, { qube, deleted, cancelled: false }, errors);
  });
};
