import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildMetadataTar } from '../../adapters/metadata/build.ts';
import { LiveSystem, openAdminClient } from '../../adapters/live/system.ts';
import { readErrorFile, removeErrorFile, softFailures, wyngFailure } from '../../adapters/wyng/errors.ts';
import {
  planBackupVolumes,
  selectForBackup,
  sentMegabytes,
  sessionFromSendOutput,
  sessionIdAt,
  volumeKindsFor,
  type BackupVolume,
  type QubeVolumesForBackup,
} from '../../core/backup/plan.ts';
import { WqError, type ErrorRecord } from '../../core/errors.ts';
import { crashPoint } from '../../core/test-hook.ts';
import { wyngArgv } from '../../core/wyng-argv.ts';
import type { CommandContext, CommandHandler } from './context.ts';
import { withJob } from './job.ts';
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
  /** Split of the wall time: Wyng's send vs everything else. */
  timing: { wyngMs: number; oursMs: number };
}

type ProgressEvent = Record<string, string | number | boolean | null>;

function progress(ctx: CommandContext, event: ProgressEvent): void {
  if (ctx.options.progress === 'json') ctx.io.stderr(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `backup`: the selected qubes' volumes and all Qubes metadata in ONE Wyng send
 * (SPEC.md "backup"), then `backup_timestamp` on each qube that made it.
 */
export const backupCommand: CommandHandler = async (ctx) => {
  const o = ctx.options;
  const started = Date.now();
  const live = new LiveSystem(openAdminClient(ctx.config), ctx.config);
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
    for (const s of selection.skipped) {
      ctx.say(`Skipping ${s.name} (${s.reason})`);
      results.set(s.name, { name: s.name, status: 'skipped', volumes: [], error: s.reason });
    }
    if (selection.selected.length === 0) throw new WqError('selection', 'Please supply a list of Qubes VMs to backup.');
    ctx.say(`\nSelected for backup:\n ${selection.selected.join(', ')}`);
    progress(ctx, { event: 'selected', qubes: selection.selected.join(',') });

    const byName = new Map(liveQubes.map((q) => [q.name, q]));
    const running = selection.selected.filter((q) => byName.get(q)?.state !== 'Halted' && byName.get(q)?.klass !== 'DispVM');
    if (running.length > 0) ctx.say(`Running qubes are backed up from their last snapshot (data since their start is not included): ${running.join(', ')}`);

    const { model } = await wyng.list();
    const volumeQubes: QubeVolumesForBackup[] = [];
    for (const name of selection.selected) {
      const q = byName.get(name)!;
      const volumes: QubeVolumesForBackup['volumes'] = {};
      for (const kind of volumeKindsFor(q.klass)) {
        const info = await live.volumeInfo(name, kind);
        if (info !== undefined) volumes[kind] = info;
      }
      volumeQubes.push({ name, klass: q.klass, volumes });
    }
    const plan = planBackupVolumes(volumeQubes, await live.pools(), new Set(Object.keys(model.volumeSessions)), o.noAutoRename);
    for (const s of plan.skipped) ctx.warn(`Skipping ${s.kind} volume of ${s.qube}: ${s.reason}`);
    for (const v of plan.volumes.filter((v) => v.renamedFrom !== undefined)) {
      ctx.say(`Auto-rename: archive volume '${v.renamedFrom}' becomes '${v.local}'`);
    }

    const tarPath = join(tmpDir, 'qubes-metadata.tgz');
    const metaFiles = await buildMetadataTar(ctx.config.qubesDir, tarPath);
    if (!metaFiles.includes('qubes.xml')) throw new WqError('config', `No qubes.xml in the Qubes dir '${ctx.config.qubesDir}'.`);
    const localFrom = join(tmpDir, 'volumes.json');
    writeFileSync(localFrom, JSON.stringify(plan.localFrom));
    removeErrorFile(localFrom);

    // Wyng names sessions by the second (local time); two sends in one second collide.
    const newest = Object.values(model.volumeSessions).flat().sort().pop();
    for (let i = 0; i < 10 && newest !== undefined && sessionIdAt(new Date()) === newest; i += 1) await sleep(200);

    progress(ctx, { event: 'send', volumes: plan.volumes.length + 1 });
    const argv = wyngArgv.send(wyng.globals, { localFrom, metadataTar: tarPath, autoprune: o.autoprune, remap: o.remap, dedup: o.dedup });
    crashPoint('backup:before-send');
    const send = await wyng.raw(argv, true);
    crashPoint('backup:after-send');
    const failedVolumes = new Set<string>();
    if (send.exitCode === 2 && readErrorFile(localFrom) !== undefined) {
      for (const v of readErrorFile(localFrom) ?? []) failedVolumes.add(v);
    } else if (send.exitCode !== 0) {
      throw wyngFailure(send, 'send');
    }
    const soft = softFailures(send);
    const byLocalPath = new Map(plan.volumes.map((v) => [join(v.poolPath, v.local), v]));
    for (const path of soft.missingLocal) {
      const v = byLocalPath.get(path) ?? plan.volumes.find((x) => path.endsWith(`/${x.local}`));
      if (v !== undefined) failedVolumes.add(v.archive);
    }
    if (failedVolumes.has('wyng-qubes-metadata')) {
      throw new WqError('wyng', 'Wyng could not store the Qubes metadata volume; no qube was backed up.', { wyngCode: 2 });
    }
    const session = sessionFromSendOutput(send.stdout) ?? null;

    const errors: ErrorRecord[] = [];
    const volumesOf = (q: string): BackupVolume[] => plan.volumes.filter((v) => v.qube === q);
    for (const name of selection.selected) {
      const vols = volumesOf(name);
      const bad = vols.filter((v) => failedVolumes.has(v.archive) || failedVolumes.has(v.local));
      const skippedVols = plan.skipped.filter((s) => s.qube === name);
      if (bad.length > 0 || skippedVols.length > 0) {
        const why = bad.length > 0 ? `Wyng failed to send ${bad.map((v) => v.archive).join(', ')}` : skippedVols.map((s) => `${s.kind} ${s.reason}`).join('; ');
        errors.push({ qube: name, kind: 'wyng', message: why });
        results.set(name, { name, status: 'failed', volumes: vols.map((v) => v.archive), error: why });
      } else {
        results.set(name, { name, status: 'ok', volumes: vols.map((v) => v.archive) });
      }
    }
    const wyngMs = send.durationMs;

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

    if (o.checkAfterSend) {
      progress(ctx, { event: 'check' });
      await wyng.check(wyngArgv.archCheckNewest(wyng.globals), 'arch-check', true);
    }

    const mb = sentMegabytes(send.stdout);
    const seconds = (Date.now() - started) / 1000;
    const result: BackupResult = {
      session,
      qubes: [...results.values()].sort((a, b) => a.name.localeCompare(b.name)),
      ...(mb !== undefined ? { bytesSent: Math.round(mb * 1_000_000) } : {}),
      seconds,
      timing: { wyngMs, oursMs: Date.now() - started - wyngMs },
    };
    const ok = result.qubes.filter((q) => q.status === 'ok').length;
    ctx.say(`\nSession ${session ?? '(unknown)'}: ${ok} qube(s), ${plan.volumes.length + 1} volume(s)${mb !== undefined ? `, ${mb} MB sent` : ''} in ${seconds.toFixed(1)} s.`);
    progress(ctx, { event: 'done', session, ok: errors.length === 0 });
    return failedQubesOutcome(ctx, result, errors);
  });
};
