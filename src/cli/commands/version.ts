import { VERSION } from '../../core/version.ts';
import type { CommandHandler } from './context.ts';

export const versionCommand: CommandHandler = async (ctx) => {
  ctx.say(`wyng-qubes ${VERSION}`);
  return { exitCode: 0, result: { version: VERSION }, errors: [] };
};
