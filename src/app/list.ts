import { fetchSessionMetadata } from '../adapters/metadata/fetch.ts';
import { metadataCache } from '../adapters/metadata-cache.ts';
import { openLiveSystem } from '../adapters/qubesd/index.ts';
import { requireQubesSessions } from '../core/archive.ts';
import { listPools, listResult, listText, poolLines, qubeBytes } from '../core/list.ts';
import { WqError } from '../core/errors.ts';
import { archivedDomains } from '../core/metadata-view.ts';
import type { QubesSystem, UseCase } from './ports.ts';
import { withJob } from './job.ts';

export const listUseCase: UseCase = async (ctx) => {
  const o = ctx.options;
  return withJob(ctx, async ({ wyng, tmpDir }) => {
    const { model } = await wyng.list();
    requireQubesSessions(model);
    // --all: every session of every qube (wyng-util-qubes 0.9); with qube names, of those qubes only
    const selected = ctx.args.length > 0 ? ctx.args : o.all ? Object.keys(model.qubeSessions).sort() : undefined;
    const result = listResult(model, selected);

    for (const line of listText.header(model)) ctx.say(line);

    if (o.poolInfo) {
      // admin.pool.List + one admin.pool.Info per pool
      const live: QubesSystem = openLiveSystem(ctx.config);
      try {
        result.pools = listPools(await live.adminPools());
      } finally {
        for (const line of live.callLog()) ctx.debug(line);
      }
      for (const line of poolLines(result.pools)) ctx.say(line);
    } else if (o.session !== undefined) {
      const id = o.session;
      if (!model.qubesSessions.includes(id)) throw new WqError('selection', `No match for session ${id}.`);
      const cache = metadataCache(ctx.config.stateDir);
      const domains = archivedDomains(await fetchSessionMetadata(wyng, tmpDir, id, undefined, cache));
      const withVolumes = new Set(model.sessionQubes[id] ?? []);
      const entries = domains
        .filter((d) => d.name !== 'dom0' && (withVolumes.has(d.name) || d.klass === 'DispVM'))
        .map((d) => ({
          name: d.name,
          class: d.klass,
          disposable: d.klass === 'DispVM',
          bytes: qubeBytes(model, d.name, id),
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const tags = model.sessionTags[id] ?? {};
      result.session = { id, tags, qubes: entries };
      for (const line of listText.session(id, entries, Object.entries(tags))) ctx.say(line);
      if (o.verbose) {
        ctx.say('\nVMs referenced in this qubes.xml:');
        for (const d of domains) ctx.say(`  ${d.name} (${d.klass})`);
      }
    } else if (selected !== undefined) {
      const rows = Object.entries(result.qubes).map(([q, i]): [string, string[], Record<string, number>] => [
        q,
        i.sessions,
        i.sessionBytes,
      ]);
      for (const line of listText.qubes(rows)) ctx.say(line);
      const missing = ctx.args.filter((q) => result.qubes[q] === undefined);
      if (missing.length > 0) ctx.warn(`No Qubes backup sessions for: ${missing.join(', ')}`);
    } else {
      for (const line of listText.overview(Object.entries(result.qubes).map(([q, i]) => [q, i.newest]))) ctx.say(line);
    }
    for (const line of listText.dom0Home(result.dom0Home ?? [], o.session)) ctx.say(line);
    ctx.say('');
    return { exitCode: 0, result, errors: [] };
  });
};
