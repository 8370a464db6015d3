import { readBackupRecord } from '../adapters/backup-record.ts';
import { qubesSessionsOf, type ArchiveModel } from '../core/archive.ts';
import { WqError } from '../core/errors.ts';
import { planDigest, type PlanDigestInput } from '../core/restore/plan-digest.ts';
import type { RestorePlan } from '../core/restore/plan.ts';
import { checkRollback, rollbackApproval, type RollbackCheck } from '../core/restore/rollback.ts';
import type { AppContext } from './ports.ts';

/**
 * The restore's two guards of issue 14: the plan digest (`--expect-plan`) and the rollback check
 * against dom0's backup record. Kept apart from restore.ts, which calls them in two lines.
 */
export interface PlanBinding {
  planDigest: string;
  qubeDigests: Record<string, string>;
}

/** The plan's digest; with `--expect-plan`, refuses (exit 9, nothing written) when it differs. */
export function bindPlan(ctx: AppContext, input: PlanDigestInput): PlanBinding {
  const binding = planDigest(input);
  const expected = ctx.options.expectPlan;
  if (expected !== undefined && expected !== binding.planDigest) {
    throw new WqError(
      'input',
      `The restore plan changed since it was approved (plan digest ${binding.planDigest}, expected ${expected}): ` +
        'the archived metadata or the live qubes differ from what was planned. Nothing was restored; ' +
        'plan again (--dry-run --json) and review.',
    );
  }
  return binding;
}

/**
 * Rollback detection (issue 14 §5): compares the restore with dom0's record and stops each qube
 * whose finding stops it, unless `--allow-rollback` (or the profile) approves, or — attended — the
 * user answers yes. A dry run only shows what a restore would do. Returns the check for the result.
 */
export async function guardRollback(
  ctx: AppContext,
  model: ArchiveModel,
  plan: RestorePlan,
  metadataSha256: string,
): Promise<RollbackCheck> {
  const o = ctx.options;
  const recorded = readBackupRecord(ctx.config.stateDir).archives[model.url];
  const names = plan.qubes.map((q) => q.name);
  const check = checkRollback({
    recorded,
    session: plan.session,
    explicitSession: o.session !== undefined,
    qubes: names,
    archiveSessions: Object.fromEntries(names.map((q) => [q, qubesSessionsOf(model, q)])),
    metadataSha256,
  });
  if (check.note !== undefined) ctx.say(`Note: ${check.note}`);
  for (const f of check.findings) {
    const q = plan.qubes.find((p) => p.name === f.qube);
    if (q === undefined) continue;
    if (!f.stops || o.allowRollback) {
      ctx.say(`Note: ${f.message}${f.stops ? ' (allowed by --allow-rollback)' : ''}`);
      q.problems.push({ severity: 'warning', message: f.message });
      continue;
    }
    if (!o.unattended && !o.dryRun) {
      ctx.warn(`Warning: ${f.message}`);
      if (await ctx.io.confirm(`Restore ${f.qube} from session ${plan.session} anyway`)) {
        q.problems.push({ severity: 'warning', message: `${f.message} (restored: confirmed)` });
        continue;
      }
    }
    const how = o.dryRun && !o.unattended ? 'A restore asks first.' : rollbackApproval(o.unattended);
    q.problems.push({ severity: o.dryRun && !o.unattended ? 'warning' : 'error', message: `${f.message} ${how}` });
    if (!(o.dryRun && !o.unattended)) q.fails = true;
  }
  return check;
}
