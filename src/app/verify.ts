import { fetchSessionMetadata } from '../adapters/metadata/fetch.ts';
import { requireQubesSessions } from '../core/archive.ts';
import { qubeFailure, WqError, type ErrorRecord } from '../core/errors.ts';
import { archivedDomains } from '../core/metadata-view.ts';
import { qubesInSession, selectArchivedQubes, selectSession, volumesInSession } from '../core/selection.ts';
import { verifyMatchedText } from '../core/summary-text.ts';
import type { UseCase } from './ports.ts';
import { withJob } from './job.ts';
import { progress, volumeProgress } from './progress.ts';
import { failedQubesOutcome } from './outcome.ts';

/** `verify`: check the archived data of the selected qubes in one session. */
export const verifyUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  return withJob(ctx, async ({ wyng, tmpDir }) => {
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const session = selectSession(model, ctx.args, o.session, 'verify');
    const domains = archivedDomains(await fetchSessionMetadata(wyng, tmpDir, session));
    const inXml = new Set(domains.map((d) => d.name));
    const dispvms = domains.filter((d) => d.klass === 'DispVM').map((d) => d.name);
    const available = [
      ...qubesInSession(model, session).map((name) => ({ name, disposable: dispvms.includes(name) })),
      ...dispvms.map((name) => ({ name, disposable: true })),
    ];
    const request = { qubes: ctx.args, exclude: o.exclude, includeDisposable: o.includeDisposable };
    const selection = selectArchivedQubes(available, request);
    const selected = [...selection.selected].sort();
    const errors: ErrorRecord[] = selection.notMatched.map((q) => ({
      qube: q,
      kind: 'selection',
      message: `Qube '${q}' is not in session ${session}.`,
    }));
    ctx.say(verifyMatchedText(session, selected));
    progress(ctx, { event: 'selected', session, qubes: selected });
    if (errors.length > 0) ctx.say(`\nNot matched:\n ${errors.map((e) => e.qube).join(', ')}`);
    if (selected.length === 0) throw new WqError('selection', 'No match.');

    const volumes = volumesInSession(model, selected, session);
    const verbose = o.verbose || !o.unattended;
    // progress by the volumes' sizes in the session (Wyng's volsize)
    const sized = volumes.map((name) => ({ name, bytes: model.volumeSizes[name]?.[session] }));
    const { onVolume, onPercent, passthrough, finish } = volumeProgress(ctx, sized);
    const failures = new Map<string, string>();
    if (volumes.length > 0) {
      try {
        const request = { workDir: tmpDir, session, volumes, verbose, onVolume, onPercent, passthrough };
        for (const v of (await wyng.verify(request)).failed) failures.set(v, `Verification failed for volume '${v}'.`);
        finish();
      } catch (err) {
        // Wyng stops at the first damaged chunk (a traceback, exit 1) without naming the volume: verify the
        // volumes one at a time to say which qubes are damaged (only after a failure; interrupts end the job)
        if (!(err instanceof WqError) || err.kind !== 'wyng' || volumes.length === 0) throw err;
        ctx.warn(`Verification failed (${err.message}); checking each volume to find the damaged qubes.`);
        let thrown = 0;
        for (const v of volumes) {
          try {
            const one = await wyng.verify({ workDir: tmpDir, session, volumes: [v], verbose: false, passthrough });
            if (one.failed.length > 0) failures.set(v, `Verification failed for volume '${v}'.`);
          } catch (e) {
            if (!(e instanceof WqError) || e.kind !== 'wyng') throw e;
            thrown += 1;
            failures.set(v, `Verification failed for volume '${v}': ${e.message}`);
          }
        }
        // a failure that stops Wyng for every volume alike (crash, lock, usage, storage) is Wyng's, not a
        // damaged qube's: the whole verify fails with Wyng's own outcome
        if (failures.size === 0 || thrown === volumes.length) throw err;
      }
    }
    for (const [v, message] of failures) errors.push(qubeFailure(model.volumeQube[v], message));
    for (const q of selected.filter((q) => !inXml.has(q))) {
      errors.push(qubeFailure(q, `No settings metadata for qube ${q}.`));
    }
    const failed = new Set(errors.map((e) => e.qube).filter((q): q is string => q !== undefined));
    const qubes = selected.map((name) => ({
      name,
      status: failed.has(name) ? 'failed' : 'ok',
      volumes: model.qubeSessions[name]?.[session]?.all ?? [],
    }));
    progress(ctx, { event: 'done', session, ok: errors.length === 0 });
    return failedQubesOutcome(ctx, { session, qubes }, errors);
  });
};
