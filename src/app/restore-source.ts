import {
  fetchSessionMetadataWithDigest,
  readReceivedMetadata,
  type ReceivedMetadata,
} from '../adapters/metadata/fetch.ts';
import { metadataCache } from '../adapters/metadata-cache.ts';
import { keepPlan, readKeptPlan, type PlanSource } from '../adapters/plan-cache.ts';
import { requireQubesSessions, type ArchiveModel } from '../core/archive.ts';
import { WqError } from '../core/errors.ts';
import { selectSession } from '../core/selection.ts';
import type { Job } from './job.ts';
import type { AppContext } from './ports.ts';
import { reachAuthority, type ReachAuthority } from './reach.ts';

/**
 * What a restore is planned from: the archive's listing, who may approve reach changes, the session
 * and its metadata — from Wyng (`list`, then the metadata volume's receive), or from a plan kept by
 * an earlier `--dry-run --keep-plan` (`--from-plan`, adapters/plan-cache.ts; issue 14 §1).
 */
export interface RestoreSource {
  model: ArchiveModel;
  authority: ReachAuthority;
  session: string;
  metadata: ReceivedMetadata;
  /** `--keep-plan`: keeps what this plan was made from and returns its id (the dry run's `planId`) */
  keep(): string | undefined;
}

/**
 * `--keep-plan` and `--from-plan`: only with restore (the CLI says so first), `--keep-plan` only
 * with `--dry-run`, `--from-plan` only with `--expect-plan` (the digest is what makes a kept plan
 * safe to use) and never from a remote caller. Checked before anything is read.
 */
export function checkPlanCacheOptions(ctx: AppContext): void {
  const o = ctx.options;
  if (o.keepPlan && !o.dryRun) throw new WqError('option', '--keep-plan is only valid with --dry-run');
  if (o.fromPlan === undefined) return;
  if (ctx.origin?.source === 'rpc')
    throw new WqError('forbidden', 'A remote restore cannot use a kept plan (--from-plan is for dom0 only).');
  if (o.expectPlan === undefined)
    throw new WqError('option', '--from-plan needs --expect-plan (the digest of the plan it was kept with)');
  if (o.dom0Home) throw new WqError('option', '--from-plan and --keep-plan do not apply to --dom0-home');
}

export async function restoreSource(ctx: AppContext, job: Job): Promise<RestoreSource> {
  const o = ctx.options;
  const { wyng, tmpDir } = job;
  const dest = o.dest ?? null;
  const kept = o.fromPlan !== undefined ? usableKeptPlan(ctx, o.fromPlan, dest) : undefined;
  let listStdout: string;
  let model: ArchiveModel;
  if (kept !== undefined) {
    ({ model } = wyng.adoptList(kept.listStdout));
    listStdout = kept.listStdout;
  } else {
    ({ model, stdout: listStdout } = await wyng.list());
  }
  requireQubesSessions(model);
  const authority = reachAuthority(ctx, model); // issue 14: refuses before the metadata is received
  const session = selectSession(model, ctx.args, o.session, 'restore');
  let metadata: ReceivedMetadata;
  if (kept !== undefined && kept.session === session) {
    metadata = readReceivedMetadata(kept.metadataTgz);
  } else {
    if (kept !== undefined)
      ctx.warn(
        `Warning: the kept plan ${o.fromPlan} is of session ${kept.session}, this restore selects ${session}: ` +
          'reading its metadata (the plan digest still binds the restore).',
      );
    metadata = await fetchSessionMetadataWithDigest(
      wyng,
      tmpDir,
      session,
      undefined,
      metadataCache(ctx.config.stateDir),
    );
  }
  const keep = (): string | undefined => {
    if (!o.keepPlan || !o.dryRun) return undefined;
    try {
      return keepPlan(ctx.config.stateDir, { dest, session, listStdout, metadataTgz: metadata.tgz });
    } catch (err) {
      // the plan stands without it: a restore of it lists and receives again
      ctx.warn(`Warning: the plan could not be kept (${(err as Error).message}); the result has no planId.`);
      return undefined;
    }
  };
  return { model, authority, session, metadata, keep };
}

/** The kept plan `id` when it can be used; else undefined after a warning line (the restore fetches). */
function usableKeptPlan(ctx: AppContext, id: string, dest: string | null): PlanSource | undefined {
  const reading = readKeptPlan(ctx.config.stateDir, id);
  const fallback = (why: string): undefined => {
    ctx.warn(
      `Warning: ${why}: listing the archive and reading the metadata again ` +
        '(the plan digest still binds the restore).',
    );
    return undefined;
  };
  if (!reading.found) return fallback(reading.why);
  if (reading.source.dest !== dest) return fallback(`the kept plan ${id} was made for another --dest`);
  return reading.source;
}
