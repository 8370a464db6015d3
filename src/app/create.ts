import { WqError } from '../core/errors.ts';
import type { UseCase } from './ports.ts';
import { withJob } from './job.ts';

/** `create`: `wyng arch-init` at --dest (encrypted unless `-w encrypt=off`). */
export const createUseCase: UseCase = async (ctx) => {
  if (ctx.options.dest === undefined) throw new WqError('option', 'Dest URL is required to create an archive.');
  if (ctx.args.length > 0) throw new WqError('option', 'create takes no qube names.');
  return withJob(ctx, async ({ wyng }) => {
    await wyng.create();
    ctx.say('\nDone.');
    const encrypted = !ctx.options.wyngopt.includes('encrypt=off');
    return { exitCode: 0, result: { archive: { url: ctx.options.dest, encrypted } }, errors: [] };
  });
};
