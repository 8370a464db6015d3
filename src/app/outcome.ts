import { exitCodeFor, type ErrorRecord } from '../core/errors.ts';
import type { AppContext, UseCaseOutcome } from './ports.ts';

/**
 * Ends a command that works per qube: exit 2 (`qubes-failed`) and "Error for VMs: a, b" when any qube failed
 * (README "Exit codes"), else "Done." and 0.
 */
export function failedQubesOutcome(ctx: AppContext, result: unknown, errors: ErrorRecord[]): UseCaseOutcome {
  for (const e of errors) ctx.warn(e.qube !== undefined ? `${e.qube}: ${e.message}` : e.message);
  const failed = [...new Set(errors.map((e) => e.qube).filter((q): q is string => q !== undefined))].sort();
  if (errors.length > 0) {
    ctx.warn(`\nError for VMs: ${failed.join(', ') || '(unknown)'}`);
    return { exitCode: exitCodeFor('qubes-failed'), result, errors };
  }
  ctx.say('\nDone.');
  return { exitCode: 0, result, errors };
}

/** `Continue [y/N]`: true for yes; "Cancelled." for no or end of input (Ctrl-C throws PromptInterrupted). */
export async function confirmContinue(ctx: AppContext): Promise<boolean> {
  if (await ctx.io.confirm('Continue')) return true;
  ctx.say('\nCancelled.');
  return false;
}
