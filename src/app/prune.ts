import { requireQubesSessions } from '../core/archive.ts';
import { WqError } from '../core/errors.ts';
import { checkPruneSession, volumesOfQubes } from '../core/selection.ts';
import type { UseCase } from './ports.ts';
import { withJob } from './job.ts';

export const pruneUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  if (o.session === undefined && o.autoprune === undefined) {
    throw new WqError('selection', 'Please specify a session, an autoprune mode or both.');
  }
  if (o.allBefore && (o.session === undefined || o.session.includes(','))) {
    throw new WqError('option', '--all-before needs one --session date-time.');
  }
  return withJob(ctx, async ({ wyng }) => {
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const unknown = ctx.args.filter((q) => model.qubeSessions[q] === undefined);
    if (unknown.length > 0) throw new WqError('selection', `Not in the archive: ${unknown.join(', ')}.`);
    const volumes = volumesOfQubes(model, ctx.args);
    if (o.session !== undefined && /^\d/.test(o.session) && !o.allBefore) {
      checkPruneSession(model, o.session, o.all || ctx.args.length === 0 ? undefined : volumes);
    }
    const { removed } = await wyng.prune({
      session: o.session,
      all: o.all,
      allBefore: o.allBefore,
      autoprune: o.autoprune,
      volumes,
    });
    ctx.say('\nDone.');
    return { exitCode: 0, result: { session: o.session ?? null, volumes, removed }, errors: [] };
  });
};
