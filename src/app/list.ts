import { fetchSessionMetadata } from '../adapters/metadata/fetch.ts';
import { openLiveSystem } from '../adapters/qubesd/index.ts';
import { requireQubesSessions } from '../core/archive.ts';
import { humanBytes, listPools, listResult, localTime, poolLines, qubeBytes } from '../core/list.ts';
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

    ctx.say(`\nURL ${model.url}`);
    ctx.say(`Last updated ${localTime(model.updatedAt)}`);
    if (model.encrypted !== undefined) {
      ctx.say(`Encryption: ${model.encrypted ? 'On' : 'OFF'}${model.authenticated === true ? ', Authenticated' : ''}`);
    }

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
      const domains = archivedDomains(await fetchSessionMetadata(wyng, tmpDir, id));
      const withVolumes = new Set(model.sessionQubes[id] ?? []);
      const entries = domains
        .filter((d) => d.name !== 'dom0' && (withVolumes.has(d.name) || d.klass === 'DispVM'))
        .map((d) => ({ name: d.name, class: d.klass, disposable: d.klass === 'DispVM' }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const tags = model.sessionTags[id] ?? {};
      result.session = { id, tags, qubes: entries };
      ctx.say(`\nVMs in session ${id}:`);
      const width = Math.max(0, ...entries.map((e) => e.name.length + (e.disposable ? 4 : 0)));
      for (const e of entries) {
        const name = `${e.name}${e.disposable ? ' (D)' : ''}`;
        ctx.say(e.disposable ? `  ${name}` : `  ${name.padEnd(width)}  ${humanBytes(qubeBytes(model, e.name, id))}`);
      }
      const shown = Object.entries(tags).filter(([k, v]) => !(k === 'qubes' && v === ''));
      if (shown.length > 0) {
        ctx.say('\nTags in session:');
        for (const [k, v] of shown) ctx.say(`  ${k.padEnd(12)} - ${v}`);
      }
      if (o.verbose) {
        ctx.say('\nVMs referenced in this qubes.xml:');
        for (const d of domains) ctx.say(`  ${d.name} (${d.klass})`);
      }
    } else if (selected !== undefined) {
      for (const [q, info] of Object.entries(result.qubes)) {
        ctx.say(`\n${q}:`);
        for (const s of info.sessions) ctx.say(`${s}  ${humanBytes(info.sessionBytes[s] ?? 0)}`);
      }
      const missing = ctx.args.filter((q) => result.qubes[q] === undefined);
      if (missing.length > 0) ctx.warn(`No Qubes backup sessions for: ${missing.join(', ')}`);
    } else {
      ctx.say('\n* Archived Qubes VMs *');
      ctx.say('\nLatest:           VM Name:');
      for (const [q, info] of Object.entries(result.qubes)) ctx.say(`${info.newest}   ${q}`);
    }
    ctx.say('');
    return { exitCode: 0, result, errors: [] };
  });
};
