import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { recordBackupSession } from '../adapters/backup-record.ts';
import { buildMetadataTar } from '../adapters/metadata/build.ts';
import { renderVolumeRecord, VOLUME_RECORD_FILE } from '../core/volume-record.ts';
import { openLiveSystem } from '../adapters/qubesd/index.ts';
import { WYNG_MB } from '../adapters/wyng/output.ts';
import { metadataCache } from '../adapters/metadata-cache.ts';
import { METADATA_VOLUME, type ArchiveModel } from '../core/archive.ts';
import {
  planBackupVolumes,
  selectForBackup,
  waitPastSession,
  settleSend,
  volumeKindsFor,
  type QubeVolumesForBackup,
} from '../core/backup/plan.ts';
import { backupEstimate, mib, type BackupVolumePreview } from '../core/dry-run.ts';
import { qubeFailure, WqError, type ErrorRecord } from '../core/errors.ts';
import { interruptedBackup, interruptedBackupLines } from '../core/interrupted.ts';
import { sha256Hex } from '../core/restore/plan-digest.ts';
import { backupSummaryLine } from '../core/summary-text.ts';
import { crashPoint } from '../core/test-hook.ts';
import { backupSpace } from './space.ts';
import { prepareHomeImport } from './dom0-home.ts';
import type { TargetSpace } from '../core/space.ts';
import type { AppContext, QubesSystem, UseCase, UseCaseOutcome } from './ports.ts';
import { withJob } from './job.ts';
import { progress, sendVolumes, volumeProgress } from './progress.ts';
import { failedQubesOutcome } from './outcome.ts';

export interface BackupQubeResult {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  volumes: string[];
  error?: string;
}

export interface BackupResult {
  session: string | null;
  qubes: BackupQubeResult[];
  bytesSent?: number;
  seconds: number;
  /** Split of the wall time: Wyng's processes (list, send, list, arch-check) vs everything else. */
  timing: { wyngMs: number; oursMs: number };
  /** the space pre-flight at a `file:` destination (empty for other destinations) */
  space: TargetSpace[];
  /** --dom0-home: whose home, how many entries, whether the new session holds it */
  dom0Home?: { user: string; entries: number; stored: boolean };
}

function homeStored(after: Record<string, string[]> | undefined, volume: string, session: string | null): boolean {
  return session !== null && (after?.[volume] ?? []).includes(session);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `backup`: the selected qubes' volumes and all Qubes metadata in ONE Wyng send
 * (docs/design.md "Backup"), then `backup_timestamp` on each qube that made it.
 */
export const backupUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  const started = Date.now();
  const live: QubesSystem = openLiveSystem(ctx.config);
  return withJob(ctx, async ({ wyng, tmpDir }) => {
    const listed = await live.listQubes();
    const liveQubes = await Promise.all(
      listed.map(async (q) => ({
        ...q,
        includeInBackups: o.includes && q.klass !== 'AdminVM' ? await live.includeInBackups(q.name) : false,
      })),
    );
    const selection = selectForBackup(liveQubes, ctx.args, o.includes, o.exclude);
    const results = new Map<string, BackupQubeResult>();
    // A named qube that does not exist is an error (unlike wyng-util-qubes 0.9, which skips it: README
    // "Compatibility"): a typo in a profile must not pass as a successful backup.
    const missing: ErrorRecord[] = [];
    for (const s of selection.skipped) {
      if (s.reason === 'no such qube') {
        missing.push(qubeFailure(s.name, `No such qube '${s.name}'.`));
        results.set(s.name, { name: s.name, status: 'failed', volumes: [], error: 'no such qube' });
        continue;
      }
      ctx.say(`Skipping ${s.name} (${s.reason})`);
      results.set(s.name, { name: s.name, status: 'skipped', volumes: [], error: s.reason });
    }
    if (selection.selected.length === 0 && missing.length > 0) {
      const result = { session: null, qubes: [...results.values()], seconds: (Date.now() - started) / 1000 };
      return failedQubesOutcome(ctx, result, missing);
    }
    if (selection.selected.length === 0) throw new WqError('selection', 'Please supply a list of Qubes VMs to backup.');
    ctx.say(`\nSelected for backup:\n ${selection.selected.join(', ')}`);
    progress(ctx, { event: 'selected', qubes: selection.selected });

    const byName = new Map(liveQubes.map((q) => [q.name, q]));
    const running = selection.selected.filter(
      (q) => byName.get(q)?.state !== 'Halted' && byName.get(q)?.klass !== 'DispVM',
    );
    if (running.length > 0)
      ctx.say(
        'Running qubes are backed up from their last snapshot (data since their start is not included): ' +
          running.join(', '),
      );

    const { model } = await wyng.list();
    const volumeQubes: QubeVolumesForBackup[] = [];
    for (const name of selection.selected) {
      const q = byName.get(name)!;
      const volumes: QubeVolumesForBackup['volumes'] = {};
      for (const kind of volumeKindsFor(q.klass)) {
        const info = await live.volumeOf(name, kind);
        if (info !== undefined) volumes[kind] = info;
      }
      volumeQubes.push({ name, klass: q.klass, volumes });
    }
    const plan = planBackupVolumes(
      volumeQubes,
      await live.wyngPools(),
      new Set(Object.keys(model.volumeSessions)),
      o.noAutoRename,
    );
    for (const s of plan.skipped) ctx.warn(`Skipping ${s.kind} volume of ${s.qube}: ${s.reason}`);
    for (const v of plan.volumes.filter((v) => v.renamedFrom !== undefined)) {
      ctx.say(`Auto-rename: archive volume '${v.renamedFrom}' becomes '${v.local}'`);
    }

    if (plan.volumes.length === 0) {
      // Wyng sends an import only together with at least one volume of a pool (docs/design.md "Wyng contract"):
      // a send of the metadata alone would fail after the fact.
      throw new WqError(
        'selection',
        `Nothing to send: ${selection.selected.join(', ')} ${selection.selected.length === 1 ? 'has' : 'have'} ` +
          'no volumes Wyng can back up (DispVMs have none); Wyng cannot store the Qubes metadata without at least ' +
          'one volume. Add a qube with volumes.',
      );
    }

    if (o.dryRun) {
      const archived = new Set(Object.keys(model.volumeSessions));
      return backupDryRun(ctx, volumeQubes, plan.volumes, results, missing, archived);
    }

    const tarPath = join(tmpDir, 'qubes-metadata.tgz');
    // what each sent volume holds in its pool: the restore's space pre-flight reads it (core/volume-record.ts)
    const usageOf = new Map(volumeQubes.map((q) => [q.name, q.volumes]));
    const record = renderVolumeRecord(
      plan.volumes.flatMap((v) => {
        const usage = usageOf.get(v.qube)?.[v.kind]?.usage;
        return usage === undefined ? [] : [{ archive: v.archive, usage }];
      }),
    );
    const metaFiles = await buildMetadataTar(ctx.config.qubesDir, tarPath, [
      { name: VOLUME_RECORD_FILE, data: record },
    ]);
    if (!metaFiles.includes('qubes.xml'))
      throw new WqError('config', `No qubes.xml in the Qubes dir '${ctx.config.qubesDir}'.`);
    // --dom0-home: the home's tar, imported next to the metadata (app/dom0-home.ts)
    const home = await prepareHomeImport(ctx, tmpDir);
    // space pre-flight for a local destination (core/space.ts)
    const space = await backupSpace(ctx, live, plan.volumes, new Set(Object.keys(model.volumeSessions)), [
      tarPath,
      ...(home ? [home.tarPath] : []),
    ]);

    // Wyng names sessions by the second (local time); two sends in one second collide.
    const newest = Object.values(model.volumeSessions).flat().sort().pop();
    await waitPastSession(newest, { now: () => new Date(), sleep });

    const sentMetadata = readFileSync(tarPath);
    const metadataSha256 = sha256Hex(sentMetadata);
    // what Wyng sends: the imports (metadata, dom0 home) and the volumes, with their sizes (progress in bytes)
    const imports = [[METADATA_VOLUME, tarPath] as const, ...(home ? [[home.volume, home.tarPath] as const] : [])];
    const sending = sendVolumes(
      plan.volumes,
      volumeQubes,
      imports.map(([name, path]) => ({ name, bytes: statSync(path).size })),
    );
    progress(ctx, { event: 'send', volumes: sending.length });
    // --json --progress=json: stderr carries JSON lines, so Wyng's raw progress (partial lines) stays out of it
    const { onVolume, onPercent, passthrough, finish } = volumeProgress(ctx, sending);
    crashPoint('backup:before-send');
    const send = await interruptedSendReport(ctx, wyng, model.volumeSessions, plan.volumes, selection.selected, () =>
      wyng.send({
        workDir: tmpDir,
        localFrom: plan.localFrom,
        metadataTar: tarPath,
        autoprune: o.autoprune,
        remap: o.remap,
        dedup: o.dedup,
        ...(home ? { imports: [[home.volume, home.tarPath] as const] } : {}),
        passthrough,
        onVolume,
        onPercent,
      }),
    );
    finish();
    crashPoint('backup:after-send');

    // The archive after the send is the truth about what was stored (see settleSend).
    let after: Record<string, string[]> | undefined;
    let afterModel: ArchiveModel | undefined;
    try {
      afterModel = (await wyng.list()).model;
      after = afterModel.volumeSessions;
    } catch (err) {
      // an interrupt (Ctrl-C while Wyng reads) ends the job like any interrupt: exit 8, nothing stamped
      if (err instanceof WqError && err.kind === 'interrupted') throw err;
      ctx.warn(`Could not re-read the archive after the send (${(err as Error).message}); going by Wyng's report.`);
    }
    const outcome = settleSend({
      volumes: plan.volumes,
      metadataBefore: model.volumeSessions[METADATA_VOLUME] ?? [],
      after,
      printedSession: send.printedSession,
      errorFile: send.failedVolumes,
      missingLocal: send.missingLocal,
      exitCode: send.exitCode,
    });
    const session = outcome.session ?? null;
    // dom0 keeps the metadata it sent: a restore of this session reads it instead of receiving it
    // (adapters/metadata-cache.ts), as long as the archive lists it as exactly these bytes
    if (session !== null && outcome.metadataStored && afterModel !== undefined) {
      const identity = afterModel.metadataIdentity[session];
      if (identity !== undefined && afterModel.volumeSizes[METADATA_VOLUME]?.[session] === sentMetadata.length)
        metadataCache(ctx.config.stateDir).put(identity, sentMetadata);
    }
    if (!outcome.metadataStored) {
      ctx.warn(
        `Wyng did not store the Qubes metadata volume${session !== null ? ` in session ${session}` : ''}: ` +
          'no qube can be restored from it.',
      );
    }

    const errors: ErrorRecord[] = [...missing];
    for (const name of selection.selected) {
      const vols = outcome.volumes.filter((v) => v.volume.qube === name);
      const why = [
        ...vols.filter((v) => v.failure !== undefined).map((v) => v.failure!),
        ...plan.skipped.filter((s) => s.qube === name).map((s) => `${s.kind} volume skipped: ${s.reason}`),
        ...(outcome.metadataStored
          ? []
          : ['the Qubes metadata volume was not stored, so this session is not a Qubes backup session']),
      ];
      const volumes = vols.map((v) => v.name);
      if (why.length > 0) {
        const error = why.join('; ');
        errors.push(qubeFailure(name, error));
        results.set(name, { name, status: 'failed', volumes, error });
      } else {
        results.set(name, { name, status: 'ok', volumes });
      }
    }

    // dom0's own record of what it sent (rollback detection on restore, issue 14 §5)
    if (session !== null && outcome.metadataStored) {
      try {
        recordBackupSession(ctx.config.stateDir, model.url, session, {
          qubes: [...results.values()].filter((r) => r.status === 'ok').map((r) => r.name),
          volumes: outcome.volumes.filter((v) => v.failure === undefined).map((v) => v.name),
          metadataSha256,
          recordedAt: new Date().toISOString(),
        });
      } catch (err) {
        ctx.warn(`Could not update dom0's backup record: ${(err as Error).message}`);
      }
    }

    // backup_timestamp on every qube that made it (not disposables created by dom0).
    const stamp = Math.floor(Date.now() / 1000);
    for (const r of results.values()) {
      if (r.status !== 'ok') continue;
      if (await live.hasTag(r.name, 'disp-created-by-dom0')) continue;
      try {
        await live.setBackupTimestamp(r.name, stamp);
      } catch (err) {
        ctx.warn(`Could not set backup_timestamp of ${r.name}: ${(err as Error).message}`);
      }
      crashPoint('backup:stamped');
    }

    let checkError: WqError | undefined;
    if (o.checkAfterSend) {
      progress(ctx, { event: 'check' });
      try {
        await wyng.checkNewest({ passthrough });
      } catch (err) {
        if (!(err instanceof WqError)) throw err;
        checkError = err;
      }
    }

    const mb = send.sentMegabytes;
    const elapsedMs = Date.now() - started;
    const wyngMs = wyng.calls.reduce((sum, c) => sum + c.durationMs, 0);
    const result: BackupResult = {
      session,
      qubes: [...results.values()].sort((a, b) => a.name.localeCompare(b.name)),
      ...(mb !== undefined ? { bytesSent: mb * WYNG_MB } : {}),
      seconds: elapsedMs / 1000,
      timing: { wyngMs, oursMs: Math.max(0, elapsedMs - wyngMs) },
      space,
      ...(home
        ? { dom0Home: { user: home.user, entries: home.entries, stored: homeStored(after, home.volume, session) } }
        : {}),
    };
    if (home && !result.dom0Home!.stored) {
      errors.push({ kind: 'qubes-failed', message: `Wyng did not store the dom0 home of ${home.user}.` });
      ctx.warn(`Wyng did not store the dom0 home of ${home.user}.`);
    }
    const ok = result.qubes.filter((q) => q.status === 'ok').length;
    const stored = outcome.volumes.filter((v) => v.failure === undefined).length + (outcome.metadataStored ? 1 : 0);
    ctx.say(backupSummaryLine({ session, qubes: ok, volumes: stored, mibSent: mb, seconds: result.seconds }));
    progress(ctx, { event: 'done', session, ok: errors.length === 0 && checkError === undefined });
    if (checkError !== undefined) {
      const out = errors.length > 0 ? failedQubesOutcome(ctx, result, errors) : { exitCode: 0, result, errors };
      ctx.warn(`Error: ${checkError.message}`);
      return { exitCode: checkError.exitCode, result, errors: [...out.errors, checkError.toRecord()] };
    }
    return failedQubesOutcome(ctx, result, errors);
  });
};

/** `backup --dry-run`: the qubes, their volumes and an estimate of the data to send (core/dry-run.ts); no send. */
function backupDryRun(
  ctx: AppContext,
  qubes: readonly QubeVolumesForBackup[],
  volumes: ReadonlyArray<{ qube: string; kind: 'private' | 'root'; archive: string; pool: string }>,
  results: Map<string, BackupQubeResult>,
  missing: ErrorRecord[],
  archived: ReadonlySet<string>,
): UseCaseOutcome {
  const preview: BackupVolumePreview[] = volumes.map((v) => ({
    qube: v.qube,
    volume: v.archive,
    pool: v.pool,
    bytes: qubes.find((q) => q.name === v.qube)?.volumes[v.kind]?.usage ?? null,
    incremental: archived.has(v.archive),
  }));
  const estimate = backupEstimate(preview);
  ctx.say('\nDry run: backup would send these volumes and the Qubes metadata in one session (nothing changed):');
  for (const v of preview) {
    const size = v.bytes === null ? 'size unknown' : mib(v.bytes);
    ctx.say(`  ${v.qube}: ${v.volume} (${v.pool}), ${size}, ${v.incremental ? 'changes only' : 'first send'}`);
  }
  ctx.say(
    `Estimate: ${mib(estimate.firstSendBytes)} for volumes sent for the first time` +
      (estimate.incrementalVolumes > 0
        ? `; plus the changed data of ${estimate.incrementalVolumes} archived volume(s), at most ` +
          `${mib(estimate.upperBoundBytes - estimate.firstSendBytes)}`
        : '') +
      ' (before compression and deduplication).',
  );
  for (const q of qubes) {
    results.set(q.name, {
      name: q.name,
      status: 'ok',
      volumes: preview.filter((v) => v.qube === q.name).map((v) => v.volume),
    });
  }
  const result = {
    session: null,
    dryRun: true,
    qubes: [...results.values()].sort((a, b) => a.name.localeCompare(b.name)),
    volumes: preview,
    estimate,
  };
  if (missing.length > 0) return failedQubesOutcome(ctx, result, missing);
  return { exitCode: 0, result, errors: [] };
}

/**
 * Runs the send; when it is interrupted, says what state the archive is in before the interrupt ends the
 * job (exit 8): the session already written and the qubes it holds whole (now their newest), or that no
 * session was written — and the command that finishes the job (core/interrupted.ts).
 */
async function interruptedSendReport<T>(
  ctx: AppContext,
  wyng: { list(): Promise<{ model: { volumeSessions: Record<string, string[]> } }> },
  before: Record<string, string[]>,
  volumes: ReadonlyArray<{ qube: string; archive: string; local: string }>,
  selected: readonly string[],
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof WqError) || err.kind !== 'interrupted') throw err;
    let after: Record<string, string[]> | undefined;
    try {
      after = (await wyng.list()).model.volumeSessions;
    } catch {
      after = undefined;
    }
    const state = interruptedBackup({ before, after, volumes, selected });
    for (const line of interruptedBackupLines(state, backupCommand(ctx, state.remaining))) ctx.warn(line);
    throw err;
  }
}

/** The command line that backs up these qubes with this run's archive options. */
function backupCommand(ctx: AppContext, qubes: readonly string[]): string {
  const o = ctx.options;
  const parts = ['wyng-qubes', 'backup'];
  if (o.profile !== undefined) parts.push('--profile', o.profile);
  else if (o.dest !== undefined) parts.push('--dest', o.dest);
  return [...parts, ...qubes].join(' ');
}
