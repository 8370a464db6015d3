import { openLiveSystem } from '../adapters/qubesd/index.ts';
import type { ArchiveModel } from '../core/archive.ts';
import { exitCodeFor, qubeFailure, WqError, type ErrorRecord } from '../core/errors.ts';
import { skippedPrefs } from '../core/options.ts';
import type { QubeSettings } from '../core/qubes/model.ts';
import { applyRestore, type QubeOutcome, type RestorePorts } from '../core/restore/apply.ts';
import { projectForDeviceApi, readArchivedSource } from '../core/restore/archived.ts';
import { tableNormaliser } from '../core/restore/diff.ts';
import { planRestore, selectRestoreQubes, type RestorePlan, type SessionVolumes } from '../core/restore/plan.ts';
import { renderNetLoss, renderPlan } from '../core/restore/render.ts';
import type { RollbackCheck } from '../core/restore/rollback.ts';
import { renameForRestore, renderRenames } from '../core/restore/rename.ts';
import { renderSpace, spaceRefusal, type TargetSpace } from '../core/space.ts';
import { parseVolumeRecord, VOLUME_RECORD_FILE } from '../core/volume-record.ts';
import { enforceSpace, restoreSpace } from './space.ts';
import { restoreDom0Home } from './dom0-home.ts';
import { restoreSummaryLine } from '../core/summary-text.ts';
import type { AppContext, QubesSystem, UseCase } from './ports.ts';
import { withJob, type Job } from './job.ts';
import { failedQubesOutcome, confirmContinue } from './outcome.ts';
import { planReach } from './reach.ts';
import { checkPlanCacheOptions, restoreSource } from './restore-source.ts';
import type { ClassifiedChange } from '../core/restore/reach.ts';
import { progress, receivedVolumes, volumeProgress } from './progress.ts';
import { reportInterruptedRestore, staleTagLines, targetPool } from './restore-extras.ts';
import { bindPlan, guardRollback } from './restore-guards.ts';
import { confirmedSettings } from './restore-settings.ts';
import { addNetLoss } from './restore-netloss.ts';
import { RestoreClock, type RestoreTiming } from './restore-timing.ts';

export interface RestoreResult {
  session: string;
  planDigest: string;
  rollback: RollbackCheck;
  qubes: (QubeOutcome & { withheld?: ClassifiedChange[] })[];
  /** per qube, the reach changes nobody approved (not applied; issue 14) */
  withheld: Record<string, ClassifiedChange[]>;
  /** archived name → name restored as (--as, --rename-conflicting) */
  renames: Record<string, string>;
  /** the space pre-flight's figures per target pool */
  space: TargetSpace[];
  adminApi: { calls: number; reads: number; writes: number };
  seconds: number;
  /** where the time went: Wyng's processes, ours by phase (issue 17) */
  timing: RestoreTiming;
}

/**
 * `restore`: plan first (archived settings vs. the live system), then create, receive, set and
 * verify in dependency order. `--dry-run` stops after the plan and touches nothing.
 */
export const restoreUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  const started = Date.now();
  const live: QubesSystem = openLiveSystem(ctx.config);
  checkPlanCacheOptions(ctx); // before anything is read
  return withJob(ctx, async (job) => {
    if (o.dom0Home) return restoreDom0Home(ctx, job); // issue 19 §2: app/dom0-home.ts
    const { wyng } = job;
    const clock = new RestoreClock(() => wyng.calls.reduce((sum, c) => sum + c.durationMs, 0));
    // Wyng's list and the session's metadata, or a kept plan's (--from-plan; app/restore-source.ts)
    const { model, authority, session, metadata, keep } = await restoreSource(ctx, job);
    const archivedSource = readArchivedSource(metadata.files, session);
    // what each volume held at backup time (core/volume-record.ts), read with the rest of the metadata
    const recordFile = metadata.files.get(VOLUME_RECORD_FILE);
    const recorded =
      recordFile === undefined
        ? new Map<string, number>()
        : parseVolumeRecord(recordFile, `${VOLUME_RECORD_FILE} of session ${session}`);

    const sessionVolumes: Record<string, SessionVolumes> = {};
    for (const [qube, sessions] of Object.entries(model.qubeSessions)) {
      const s = sessions[session];
      if (s)
        sessionVolumes[qube] = { ...(s.private ? { private: s.private } : {}), ...(s.root ? { root: s.root } : {}) };
    }

    const liveQubes = await live.listQubes();
    const deviceApi = await live.deviceApi(liveQubes);
    const baseRequest = {
      qubes: ctx.args,
      exclude: o.exclude,
      includeDisposable: o.includeDisposable,
      skip: skippedPrefs(o),
      ignoreMissing: o.ignoreMissing,
      forceIncomplete: o.forceIncomplete,
    };
    // --as / --rename-conflicting: the target under its new names (core/restore/rename.ts)
    const renamed = renameForRestore({
      source: archivedSource,
      sessionVolumes,
      live: liveQubes,
      request: baseRequest,
      as: o.as,
      renameConflicting: o.renameConflicting,
    });
    const { source, widened } = projectForDeviceApi(renamed.source, deviceApi);
    const liveNames = new Set(liveQubes.map((q) => q.name));
    const request = { ...baseRequest, qubes: renamed.qubes };
    // the live settings and notes of exactly the live qubes this run restores (the plan's selection)
    const { selected } = selectRestoreQubes({
      archived: source.system,
      sessionVolumes: renamed.sessionVolumes,
      request,
    });
    const candidates = new Set(selected.filter((q) => liveNames.has(q)));
    const notes = Object.fromEntries(
      source.system.qubes.filter((q) => candidates.has(q.name)).map((q) => [q.name, live.readNotes(q.name, q.klass)]),
    );
    const target = await targetPool(ctx, live);
    const globals = await live.globalValues();
    const runningDispvmTemplates = await live.runningDispvmTemplates(liveQubes);
    const planFrom = (settings: Map<string, QubeSettings>): RestorePlan =>
      planRestore({
        session,
        archived: source.system,
        archivedNotes: source.notes,
        sessionVolumes: renamed.sessionVolumes,
        live: { qubes: liveQubes, settings, notes, globals, runningDispvmTemplates },
        request,
        normalise: tableNormaliser,
        deviceApi,
      });
    // planned from qubesd's files; what the plan changes is confirmed through qubesd first (issue 17)
    const settings = await confirmedSettings(live, [...candidates], planFrom);
    const liveState = { qubes: liveQubes, settings, notes, globals, runningDispvmTemplates };
    const plan = planFrom(settings);
    await addNetLoss(live, liveQubes, settings, plan); // issue 16: running qubes cut off from the network
    // issue 14: bind to the approved plan (--expect-plan), then check for a rollback behind dom0's back
    const binding = bindPlan(ctx, {
      session,
      metadata: metadata.files,
      selected: plan.qubes.map((q) => q.name),
      notMatched: plan.notMatched,
      sessionVolumes: renamed.sessionVolumes,
      live: { ...liveState, deviceApi },
      request: { ...request, pool: o.pool ?? null },
    });
    const rollback = await guardRollback(ctx, model, plan, metadata.sha256);
    for (const q of plan.qubes) {
      if (widened.has(q.name)) {
        q.problems.push({
          severity: 'warning',
          message:
            'this qubesd has the Qubes 4.2 device API: its device assignments are restored by port, ' +
            'without device identity and mode.',
        });
      }
    }
    // Reach (issue 14): unapproved reach changes leave the plan; they are shown, withheld and reported.
    const reach = planReach(plan, authority, liveState.globals);
    const applied = reach.plan;
    // space pre-flight: per pool, what the receive needs and what is free (app/space.ts)
    const space = await restoreSpace(live, applied, model.volumeSizes, recorded, o.pool ?? null);
    ctx.say(
      renderPlan(applied, o.verbose || o.dryRun) +
        (o.dryRun || o.unattended ? reach.text : '') +
        renderRenames(renamed.renames) +
        renderSpace('Space in the target pools', space),
    );
    ctx.say(target.line);
    progress(ctx, { event: 'selected', session, qubes: plan.qubes.map((q) => q.name) });
    for (const line of staleTagLines(ctx, plan)) ctx.say(line);
    clock.mark('planned');
    const planErrors: ErrorRecord[] = plan.notMatched.map((q) => ({
      qube: q,
      kind: 'selection',
      message: `Qube '${q}' is not in session ${session}.`,
    }));
    if (plan.qubes.length === 0 && plan.notMatched.length === 0)
      throw new WqError('selection', `No qubes to restore from session ${session}.`);

    if (o.dryRun) {
      const refusal = spaceRefusal('restore', space);
      if (refusal !== undefined)
        ctx.say(`\nThe restore would stop here: ${refusal.replace(/ Nothing was written; use/, ' Use')}`);
      const failing = plan.qubes
        .filter((q) => q.fails)
        .map((q) =>
          qubeFailure(
            q.name,
            q.problems
              .filter((p) => p.severity === 'error')
              .map((p) => p.message)
              .join(' '),
          ),
        );
      const errors = [...planErrors, ...failing];
      const planId = keep(); // --keep-plan: what this plan was made from, for --from-plan
      return {
        exitCode: errors.length > 0 ? exitCodeFor('qubes-failed') : 0,
        result: {
          session,
          planDigest: binding.planDigest,
          qubeDigests: binding.qubeDigests,
          ...(planId !== undefined ? { planId } : {}),
          rollback,
          plan: reach.json,
          reach: reach.summary,
          renames: renamed.renames,
          space,
          pool: target.pool,
        },
        errors,
      };
    }

    // per pool: refused when the data recorded at backup time cannot fit, a warning when only the
    // listed (logical, sparse) sizes exceed the free space (app/space.ts, core/volume-record.ts)
    enforceSpace(ctx, 'restore', space);

    const overwriting = applied.qubes.filter((q) => q.action !== 'create' && !q.fails).map((q) => q.name);
    if (!o.unattended && (overwriting.length > 0 || reach.text !== '')) {
      if (reach.text !== '') ctx.say(reach.text); // the reach changes first
      if (overwriting.length > 0)
        ctx.say(`\nWarning:  Restoring to existing VMs will overwrite them...\n ${overwriting.join(', ')}`);
      if (renderNetLoss(applied) !== '') ctx.say(renderNetLoss(applied));
      if (!(await confirmContinue(ctx))) {
        return { exitCode: 0, result: { session, qubes: [], cancelled: true }, errors: [] };
      }
    }

    const appliedOutcomes = await reportInterruptedRestore(ctx, live, applied, () =>
      applyRestore(
        {
          plan: reach.toApply,
          restrict: reach.restrict,
          archived: new Map(source.system.qubes.map((q) => [q.name, q])),
          archivedNotes: source.notes,
          skip: request.skip,
          normalise: tableNormaliser,
          pool: o.pool ?? null,
          post: !o.noQubesPost,
          onPhase: clock.phase,
        },
        restorePorts(ctx, job, live, plan, model.volumeSizes),
      ),
    );
    const outcomes = reach.outcomes(appliedOutcomes);
    const calls = live.callSummary();
    const result: RestoreResult = {
      session,
      planDigest: binding.planDigest,
      rollback,
      qubes: outcomes,
      withheld: reach.split.withheld,
      renames: renamed.renames,
      space,
      adminApi: { calls: calls.calls, reads: calls.reads, writes: calls.writes },
      seconds: (Date.now() - started) / 1000,
      timing: clock.timing(),
    };
    ctx.debug(live.callLog().join('\n'));
    const errors: ErrorRecord[] = [
      ...planErrors,
      ...outcomes.filter((q) => q.status === 'failed').map((q) => qubeFailure(q.name, q.error ?? 'failed')),
      ...reach.errors,
    ];
    progress(ctx, { event: 'done', session, ok: errors.length === 0 });
    const restored = outcomes.filter((q) => q.status === 'restored' && q.withheld === undefined).length;
    ctx.say(restoreSummaryLine(restored, outcomes.length, session));
    return failedQubesOutcome(ctx, result, errors);
  });
};

/** The restore's ports: the live system's, plus Wyng's receive and the run's output. */
function restorePorts(
  ctx: AppContext,
  job: Job,
  live: QubesSystem,
  plan: RestorePlan,
  sizes: ArchiveModel['volumeSizes'],
): RestorePorts {
  const o = ctx.options;
  return {
    ...live.restorePorts(),
    receive: async (map) => {
      const { finish, ...hooks } = volumeProgress(ctx, receivedVolumes(map, plan.session, sizes));
      const report = await job.wyng.receive({
        ...hooks,
        workDir: job.tmpDir,
        session: plan.session,
        volumes: map,
        useSnapshot: !o.noSnapshotRestore,
        verbose: o.verbose || !o.unattended,
      });
      finish();
      return report.failed;
    },
    say: (t) => ctx.say(t),
  };
}
