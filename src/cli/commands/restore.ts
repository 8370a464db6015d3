import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LiveSystem, openAdminClient } from '../../adapters/live/system.ts';
import { fetchSessionMetadata } from '../../adapters/metadata/fetch.ts';
import {
  readErrorFile,
  removeErrorFile,
  softFailures,
  unannouncedVolumes,
  wyngFailure,
} from '../../adapters/wyng/errors.ts';
import { requireQubesSessions } from '../../core/archive.ts';
import { localVolumeName, poolPath } from '../../core/backup/plan.ts';
import { WqError, type ErrorRecord } from '../../core/errors.ts';
import { skippedPrefs } from '../../core/options.ts';
import { applyRestore, type QubeOutcome, type RestorePorts } from '../../core/restore/apply.ts';
import { projectForDeviceApi, readArchivedSource } from '../../core/restore/archived.ts';
import { tableNormaliser } from '../../core/restore/diff.ts';
import { planRestore, type RestorePlan, type SessionVolumes } from '../../core/restore/plan.ts';
import { renderPlan } from '../../core/restore/render.ts';
import { selectSession } from '../../core/selection.ts';
import { wyngArgv } from '../../core/wyng-argv.ts';
import type { CommandContext, CommandHandler } from './context.ts';
import { withJob, type Job } from './job.ts';
import { failedQubesOutcome } from './outcome.ts';

export interface RestoreResult {
  session: string;
  qubes: QubeOutcome[];
  adminApi: { calls: number; reads: number; writes: number };
  seconds: number;
}

/**
 * `restore`: plan first (archived settings vs. the live system), then create, receive, set and
 * verify in dependency order. `--dry-run` stops after the plan and touches nothing.
 */
export const restoreCommand: CommandHandler = async (ctx) => {
  const o = ctx.options;
  const started = Date.now();
  const live = new LiveSystem(openAdminClient(ctx.config), ctx.config);
  return withJob(ctx, async (job) => {
    const { wyng, tmpDir } = job;
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const session = selectSession(model, ctx.args, o.session, 'restore');
    const archivedSource = readArchivedSource(await fetchSessionMetadata(wyng, tmpDir, session), session);

    const sessionVolumes: Record<string, SessionVolumes> = {};
    for (const [qube, sessions] of Object.entries(model.qubeSessions)) {
      const s = sessions[session];
      if (s)
        sessionVolumes[qube] = { ...(s.private ? { private: s.private } : {}), ...(s.root ? { root: s.root } : {}) };
    }

    const liveQubes = await live.listQubes();
    const deviceApi = await live.deviceApi(liveQubes);
    const { source, widened } = projectForDeviceApi(archivedSource, deviceApi);
    const liveNames = new Set(liveQubes.map((q) => q.name));
    // read the live settings of exactly the qubes this run can restore (selection as planRestore)
    const candidates = source.system.qubes
      .filter((q) => q.klass !== 'AdminVM' && q.name !== 'dom0' && liveNames.has(q.name) && !o.exclude.includes(q.name))
      .filter((q) => (ctx.args.length === 0 ? o.includeDisposable || q.klass !== 'DispVM' : ctx.args.includes(q.name)))
      .map((q) => q.name);
    const settings = await live.readSettings(candidates);
    const notes = Object.fromEntries(
      source.system.qubes
        .filter((q) => liveNames.has(q.name) && candidates.includes(q.name))
        .map((q) => [q.name, live.readNotes(q.name, q.klass)]),
    );
    const request = {
      qubes: ctx.args,
      exclude: o.exclude,
      includeDisposable: o.includeDisposable,
      skip: skippedPrefs(o),
      ignoreMissing: o.ignoreMissing,
      forceIncomplete: o.forceIncomplete,
    };
    const plan = planRestore({
      session,
      archived: source.system,
      archivedNotes: source.notes,
      sessionVolumes,
      live: {
        qubes: liveQubes,
        settings,
        notes,
        globals: await live.globals(),
        runningDispvmTemplates: await live.runningDispvmTemplates(liveQubes),
      },
      request,
      normalise: tableNormaliser,
      deviceApi,
    });
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
    ctx.say(renderPlan(plan, o.verbose || o.dryRun));
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
        .map((q) => ({
          qube: q.name,
          kind: 'selection' as const,
          message: q.problems
            .filter((p) => p.severity === 'error')
            .map((p) => p.message)
            .join(' '),
        }));
      const errors = [...planErrors, ...failing];
      return { exitCode: errors.length > 0 ? 2 : 0, result: { session, plan }, errors };
    }

    const overwriting = plan.qubes.filter((q) => q.action !== 'create' && !q.fails).map((q) => q.name);
    if (!o.unattended && overwriting.length > 0) {
      ctx.say(`\nWarning:  Restoring to existing VMs will overwrite them...\n ${overwriting.join(', ')}`);
      if (!(await ctx.io.confirm('Continue'))) {
        return { exitCode: 0, result: { session, qubes: [], cancelled: true }, errors: [] };
      }
    }

    const outcomes = await applyRestore(
      {
        plan,
        archived: new Map(source.system.qubes.map((q) => [q.name, q])),
        archivedNotes: source.notes,
        skip: request.skip,
        normalise: tableNormaliser,
        pool: o.pool ?? null,
        post: !o.noQubesPost,
      },
      restorePorts(ctx, job, live, plan),
    );
    const calls = live.client.log.summary();
    const result: RestoreResult = {
      session,
      qubes: outcomes,
      adminApi: { calls: calls.calls, reads: calls.reads, writes: calls.writes },
      seconds: (Date.now() - started) / 1000,
    };
    ctx.debug(live.client.log.format().join('\n'));
    const errors: ErrorRecord[] = [
      ...planErrors,
      ...outcomes
        .filter((q) => q.status === 'failed')
        .map((q) => ({ qube: q.name, kind: 'qubes-failed' as const, message: q.error ?? 'failed' })),
    ];
    ctx.say(
      `\nRestored ${outcomes.filter((q) => q.status === 'restored').length} of ${outcomes.length} qube(s) ` +
        `from session ${session}.`,
    );
    return failedQubesOutcome(ctx, result, errors);
  });
};

function restorePorts(ctx: CommandContext, job: Job, live: LiveSystem, plan: RestorePlan): RestorePorts {
  const c = live.client;
  const o = ctx.options;
  let pools: Awaited<ReturnType<LiveSystem['pools']>> | undefined;
  return {
    kill: (q) => live.kill(q),
    remove: (q) => c.removeQube(q),
    create: (q, spec, pool) =>
      c.createQube({
        klass: spec.klass === 'AdminVM' ? 'AppVM' : spec.klass,
        name: q,
        label: spec.label,
        ...(spec.template && (spec.klass === 'AppVM' || spec.klass === 'DispVM') ? { template: spec.template } : {}),
        ...(pool ? { pool } : {}),
      }),
    setProperty: (q, name, value) => c.setProperty(q, name, value),
    resetProperty: (q, name) => c.resetProperty(q, name),
    setFeature: (q, name, value) => c.setFeature(q, name, value),
    removeFeature: (q, name) => c.removeFeature(q, name),
    addTag: (q, tag) => c.setTag(q, tag),
    removeTag: (q, tag) => c.removeTag(q, tag),
    assignDevice: (q, a) => c.assignDevice(q, a),
    unassignDevice: (q, a) => c.unassignDevice(q, a),
    setFirewall: (q, rules) => c.setFirewall(q, rules),
    writeNotes: async (q, klass, text) => live.writeNotes(q, klass, text),
    readNotes: async (q, klass) => live.readNotes(q, klass),
    readSettings: (names, parts) => live.readSettings(names, parts),
    volumeTarget: async (q, v) => {
      pools ??= await live.pools();
      const info = await live.volumeInfo(q, v.kind);
      if (!info) throw new WqError('admin-api', `'${q}' has no ${v.kind} volume.`, { qube: q });
      const pool = pools.get(info.pool);
      const path = pool ? poolPath(pool) : undefined;
      const local = pool ? localVolumeName(q, v.kind, pool, info.vid) : undefined;
      if (!pool || path === undefined || local === undefined) {
        throw new WqError(
          'config',
          `pool '${info.pool}' of ${q} is not lvm_thin or file-reflink; its volume cannot be restored.`,
          { qube: q },
        );
      }
      return { poolPath: path, localName: local };
    },
    receive: async (map) => {
      const localFrom = join(job.tmpDir, 'restore-volumes.json');
      writeFileSync(localFrom, JSON.stringify(Object.fromEntries(map)), { mode: 0o600 });
      removeErrorFile(localFrom);
      const argv = wyngArgv.receive(job.wyng.globals, {
        localFrom,
        session: plan.session,
        useSnapshot: !o.noSnapshotRestore,
        verbose: o.verbose || !o.unattended,
      });
      const r = await job.wyng.raw(argv, true);
      const failed = new Set<string>();
      if (r.exitCode === 2) {
        const listed = readErrorFile(localFrom);
        if (listed === undefined) throw wyngFailure(r, 'receive');
        for (const v of listed) failed.add(v);
      } else if (r.exitCode !== 0) {
        throw wyngFailure(r, 'receive');
      }
      for (const v of softFailures(r).notFound) failed.add(v);
      for (const v of unannouncedVolumes(
        r,
        [...map.values()].flat().map(([arch]) => arch),
      ))
        failed.add(v);
      // a local name in the error file maps back to its archive name
      for (const list of map.values()) for (const [arch, local] of list) if (failed.has(local)) failed.add(arch);
      return [...failed];
    },
    post: (q, klass) => live.postRestore(q, klass),
    say: (t) => ctx.say(t),
  };
}
