import { openLiveSystem } from '../adapters/qubesd/index.ts';
import { fetchSessionMetadata } from '../adapters/metadata/fetch.ts';
import { requireQubesSessions } from '../core/archive.ts';
import { exitCodeFor, qubeFailure, WqError, type ErrorRecord } from '../core/errors.ts';
import { skippedPrefs } from '../core/options.ts';
import { applyRestore, type QubeOutcome, type RestorePorts } from '../core/restore/apply.ts';
import { projectForDeviceApi, readArchivedSource } from '../core/restore/archived.ts';
import { tableNormaliser } from '../core/restore/diff.ts';
import { planRestore, selectRestoreQubes, type RestorePlan, type SessionVolumes } from '../core/restore/plan.ts';
import { renderPlan } from '../core/restore/render.ts';
import { selectSession } from '../core/selection.ts';
import type { AppContext, QubesSystem, UseCase } from './ports.ts';
import { withJob, type Job } from './job.ts';
import { planReach, reachAuthority } from './reach.ts';
import type { ClassifiedChange } from '../core/restore/reach.ts';
import { failedQubesOutcome } from './outcome.ts';

export interface RestoreResult {
  session: string;
  qubes: (QubeOutcome & { withheld?: ClassifiedChange[] })[];
  /** per qube, the reach changes nobody approved (not applied) */
  withheld: Record<string, ClassifiedChange[]>;
  adminApi: { calls: number; reads: number; writes: number };
  seconds: number;
}

/**
 * `restore`: plan first (archived settings vs. the live system), then create, receive, set and
 * verify in dependency order. `--dry-run` stops after the plan and touches nothing.
 */
export const restoreUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  const started = Date.now();
  const live: QubesSystem = openLiveSystem(ctx.config);
  return withJob(ctx, async (job) => {
    const { wyng, tmpDir } = job;
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const authority = reachAuthority(ctx, model); // refuses before the metadata is received
    const session = selectSession(model, ctx.args, o.session, 'restore');
    const archivedSource = readArchivedSource(await fetchSessionMetadata(wyng, tmpDir, session), session);

    const sessionVolumes: Record<string, SessionVolumes> = {};
    for (const [qube, sessions] of Object.entries(model.qubeSessions)) {
      const s = sessions[session];
      if (s)
        sessionVolumes[qube] = { ...(s.private ? { private: s.private } : {}), ...(s.root ? { root: s.root } : {}) };
    }

    const liveQubes = await live.listQubes();
    const { source, widened } = projectForDeviceApi(archivedSource, await live.deviceApi(liveQubes));
    const liveNames = new Set(liveQubes.map((q) => q.name));
    const request = {
      qubes: ctx.args,
      exclude: o.exclude,
      includeDisposable: o.includeDisposable,
      skip: skippedPrefs(o),
      ignoreMissing: o.ignoreMissing,
      forceIncomplete: o.forceIncomplete,
    };
    // the live settings and notes of exactly the live qubes this run restores (the plan's selection)
    const { selected } = selectRestoreQubes({ archived: source.system, sessionVolumes, request });
    const candidates = new Set(selected.filter((q) => liveNames.has(q)));
    const settings = await live.readSettings([...candidates]);
    const notes = Object.fromEntries(
      source.system.qubes.filter((q) => candidates.has(q.name)).map((q) => [q.name, live.readNotes(q.name, q.klass)]),
    );
    const globals = await live.globalValues();
    const fullPlan = planRestore({
      session,
      archived: source.system,
      archivedNotes: source.notes,
      sessionVolumes,
      live: {
        qubes: liveQubes,
        settings,
        notes,
        globals,
        runningDispvmTemplates: await live.runningDispvmTemplates(liveQubes),
      },
      request,
      normalise: tableNormaliser,
    });
    for (const q of fullPlan.qubes) {
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
    const reach = planReach(fullPlan, authority, globals);
    const plan = reach.plan;
    ctx.say(renderPlan(plan, o.verbose || o.dryRun) + (o.dryRun || o.unattended ? reach.text : ''));
    const planErrors: ErrorRecord[] = plan.notMatched.map((q) => ({
      qube: q,
      kind: 'selection',
      message: `Qube '${q}' is not in session ${session}.`,
    }));
    if (plan.qubes.length === 0 && plan.notMatched.length === 0)
      throw new WqError('selection', `No qubes to restore from session ${session}.`);

    if (o.dryRun) {
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
      // withheld reach changes are in the plan (per qube `withheld`); only the restore itself fails on them
      const errors = [...planErrors, ...failing];
      return {
        exitCode: errors.length > 0 ? exitCodeFor('qubes-failed') : 0,
        result: { session, plan: reach.json, reach: reach.summary },
        errors,
      };
    }

    const overwriting = plan.qubes.filter((q) => q.action !== 'create' && !q.fails).map((q) => q.name);
    if (!o.unattended && (overwriting.length > 0 || reach.text !== '')) {
      if (reach.text !== '') ctx.say(reach.text);
      if (overwriting.length > 0)
        ctx.say(`\nWarning:  Restoring to existing VMs will overwrite them...\n ${overwriting.join(', ')}`);
      if (!(await ctx.io.confirm('Continue'))) {
        return { exitCode: 0, result: { session, qubes: [], cancelled: true }, errors: [] };
      }
    }

    const applied = await applyRestore(
      {
        plan: reach.toApply,
        restrict: reach.restrict,
        archived: new Map(source.system.qubes.map((q) => [q.name, q])),
        archivedNotes: source.notes,
        skip: request.skip,
        normalise: tableNormaliser,
        pool: o.pool ?? null,
        post: !o.noQubesPost,
      },
      restorePorts(ctx, job, live, plan),
    );
    const calls = live.callSummary();
    const outcomes = reach.outcomes(applied);
    const result: RestoreResult = {
      session,
      qubes: outcomes,
      withheld: reach.split.withheld,
      adminApi: { calls: calls.calls, reads: calls.reads, writes: calls.writes },
      seconds: (Date.now() - started) / 1000,
    };
    ctx.debug(live.callLog().join('\n'));
    const errors: ErrorRecord[] = [
      ...planErrors,
      ...outcomes.filter((q) => q.status === 'failed').map((q) => qubeFailure(q.name, q.error ?? 'failed')),
      ...reach.errors,
    ];
    const full = outcomes.filter((q) => q.status === 'restored' && q.withheld === undefined).length;
    ctx.say(`\nRestored ${full} of ${outcomes.length} qube(s) from session ${session}.`);
    return failedQubesOutcome(ctx, result, errors);
  });
};

/** The restore's ports: the live system's, plus Wyng's receive and the run's output. */
function restorePorts(ctx: AppContext, job: Job, live: QubesSystem, plan: RestorePlan): RestorePorts {
  const o = ctx.options;
  return {
    ...live.restorePorts(),
    receive: async (map) =>
      (
        await job.wyng.receive({
          workDir: job.tmpDir,
          session: plan.session,
          volumes: map,
          useSnapshot: !o.noSnapshotRestore,
          verbose: o.verbose || !o.unattended,
        })
      ).failed,
    say: (t) => ctx.say(t),
  };
}
