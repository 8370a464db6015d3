import { requireQubesSessions } from '../core/archive.ts';
import { prunePreview, removalLines } from '../core/dry-run.ts';
import { WqError } from '../core/errors.ts';
import { checkPruneSession, volumesOfQubes } from '../core/selection.ts';
import type { UseCase } from './ports.ts';
import { withJob } from './job.ts';
import { forgetInRecord } from './record-upkeep.ts';
import { prunedFromArchive } from '../core/restore/rollback.ts';

export const pruneUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  if (o.session === undefined && o.autoprune === undefined) {
    throw new WqError('selection', 'Please specify a session, an autoprune mode or both.');
  }
  if (o.allBefore && (o.session === undefined || o.session.includes(','))) {
    throw new WqError('option', '--all-before needs one --session date-time.');
  }
  // Wyng refuses a prune without volume names ("Volume name(s) or --all required"): say so in our words first.
  if (ctx.args.length === 0 && !o.all) {
    throw new WqError(
      'option',
      'prune needs the qubes whose sessions to remove, or --all for every volume in the archive' +
        (o.profile !== undefined ? ` (profile '${o.profile}' names no qubes)` : '') +
        '.',
    );
  }
  if (o.dryRun && (o.session === undefined || o.session.startsWith('^') || (o.autoprune ?? 'off') !== 'off')) {
    throw new WqError(
      'option',
      'prune --dry-run previews --session removals only: which sessions --autoprune thins out Wyng decides ' +
        'while pruning.',
    );
  }
  return withJob(ctx, async ({ wyng }) => {
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const unknown = ctx.args.filter((q) => model.qubeSessions[q] === undefined);
    if (unknown.length > 0) throw new WqError('selection', `Not in the archive: ${unknown.join(', ')}.`);
    const volumes = volumesOfQubes(model, ctx.args);
    if (o.session !== undefined && /^\d/.test(o.session) && !o.allBefore) {
      checkPruneSession(model, o.session, o.all ? undefined : volumes);
    }
    if (o.dryRun) {
      const wouldRemove = prunePreview(
        model,
        o.all ? Object.keys(model.volumeSessions).sort() : volumes,
        o.session!,
        o.allBefore,
      );
      ctx.say('\nDry run: prune would remove these sessions (nothing changed):');
      for (const line of removalLines(wouldRemove)) ctx.say(line);
      if (wouldRemove.length === 0) ctx.say('  (none: a volume keeps its newest session)');
      const result = { session: o.session ?? null, volumes, removed: {}, dryRun: true, wouldRemove };
      return { exitCode: 0, result, errors: [] };
    }
    const { removed, cancelled } = await wyng.prune({
      session: o.session,
      all: o.all,
      allBefore: o.allBefore,
      autoprune: o.autoprune,
      volumes,
    });
    if (cancelled) {
      ctx.say('\nCancelled.');
      return { exitCode: 0, result: { session: o.session ?? null, volumes, removed, cancelled: true }, errors: [] };
    }
    // dom0's backup record forgets the Qubes sessions Wyng removed, as the archive now shows them
    const qubes = o.all ? Object.keys(model.qubeSessions) : ctx.args;
    await forgetInRecord(ctx, model.url, async () => prunedFromArchive(model, (await wyng.list()).model, qubes));
    ctx.say('\nDone.');
    return { exitCode: 0, result: { session: o.session ?? null, volumes, removed, cancelled: false }, errors: [] };
  });
};
