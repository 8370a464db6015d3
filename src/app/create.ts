import { WqError } from '../core/errors.ts';
import type { UseCase } from './ports.ts';
import { withJob } from './job.ts';

/** `create`: `wyng arch-init` at --dest (encrypted unless `-w encrypt=off`). */
export const createUseCase: UseCase = async (ctx) => {
  if (ctx.options.dest === undefined) throw new WqError('option', 'Dest URL is required to create an archive.');
  if (ctx.args.length > 0) throw new WqError('option', 'create takes no qube names.');
  const encrypted = !ctx.options.wyngopt.includes('encrypt=off');
  if (ctx.options.dryRun) {
    const options = ctx.options.wyngopt.map((w) => `--${w}`).join(' ');
    ctx.say(
      `\nDry run: create would make a new ${encrypted ? 'encrypted' : 'UNENCRYPTED'} Wyng archive at ` +
        `${ctx.options.dest} (wyng arch-init${options !== '' ? ` ${options}` : ''}); nothing changed.`,
    );
    return { exitCode: 0, result: { archive: { url: ctx.options.dest, encrypted }, dryRun: true }, errors: [] };
  }
  return withJob(ctx, async ({ wyng }) => {
    await wyng.create();
    ctx.say('\nDone.');
    return { exitCode: 0, result: { archive: { url: ctx.options.dest, encrypted } }, errors: [] };
  });
};
