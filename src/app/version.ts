import { VERSION } from '../core/version.ts';
import type { UseCase } from './ports.ts';

export const versionUseCase: UseCase = async (ctx) => {
  ctx.say(`wyng-qubes ${VERSION}`);
  return { exitCode: 0, result: { version: VERSION }, errors: [] };
};
