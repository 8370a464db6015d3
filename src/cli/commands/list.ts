import { fetchSessionMetadata } from '../../adapters/metadata/fetch.ts';
import { AdminClient, socketTransportFromConfig } from '../../adapters/qubesd/index.ts';
import { qubesSessionsOf, requireQubesSessions, type ArchiveModel } from '../../core/archive.ts';
import { WqError } from '../../core/errors.ts';
import { archivedDomains } from '../../core/metadata-view.ts';
import type { PoolInfo } from '../../core/qubesapi/parse.ts';
import type { CommandHandler } from './context.ts';
import { withJob } from './job.ts';

/** `list --json` result (README "JSON output"). */
export interface ListResult {
  archive: { url: string; encrypted: boolean | null; authenticated: boolean | null; updatedAt: string };
  sessions: Array<{ id: string; tags: Record<string, string>; qubes: string[] }>;
  qubes: Record<string, { sessions: string[]; newest: string }>;
  session?: {
    id: string;
    tags: Record<string, string>;
    qubes: Array<{ name: string; class: string; disposable: boolean }>;
  };
  /** `--pool-info`: the local Qubes storage pools Wyng can back up from and restore to */
  pools?: ListPool[];
}

/** One local storage pool as `list --pool-info` shows it. */
export interface ListPool {
  name: string;
  driver: 'lvm_thin' | 'file-reflink';
  /** `VG/thinpool` for lvm_thin, the directory for file-reflink (as in Wyng's volume lists) */
  path: string;
  volumeGroup?: string;
  thinPool?: string;
  dirPath?: string;
  /** bytes, when the driver reports them */
  size: number | null;
  usage: number | null;
}

/**
 * The pools wyng-util-qubes shows (its get_pools()): lvm_thin pools as volume group + thin pool,
 * file-reflink pools as their directory; other drivers (linux-kernel, file) hold nothing Wyng
 * backs up and are left out. Admin API order (admin.pool.List).
 */
export function listPools(pools: readonly PoolInfo[]): ListPool[] {
  const out: ListPool[] = [];
  for (const p of pools) {
    const sizes = { size: p.size ?? null, usage: p.usage ?? null };
    if (p.driver === 'lvm_thin' && p.config.volume_group !== undefined && p.config.thin_pool !== undefined) {
      const { volume_group: volumeGroup, thin_pool: thinPool } = p.config;
      out.push({
        name: p.name,
        driver: 'lvm_thin',
        path: `${volumeGroup}/${thinPool}`,
        volumeGroup,
        thinPool,
        ...sizes,
      });
    } else if (p.driver === 'file-reflink' && p.config.dir_path !== undefined) {
      out.push({ name: p.name, driver: 'file-reflink', path: p.config.dir_path, dirPath: p.config.dir_path, ...sizes });
    }
  }
  return out;
}

/** 1536 → `1.5 KiB` (binary units, one decimal). */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** The text lines of `--pool-info` (wyng-util-qubes: ` name<24>: driver<12>, path`, plus size and usage). */
export function poolLines(pools: readonly ListPool[]): string[] {
  const lines = ['', 'Qubes local storage pools:'];
  for (const p of pools) {
    let line = ` ${p.name.padEnd(24)}: ${p.driver.padEnd(12)}, ${p.path}`;
    if (p.size !== null) {
      line += `, size ${humanBytes(p.size)}`;
      if (p.usage !== null)
        line += `, used ${humanBytes(p.usage)}${p.size > 0 ? ` (${((100 * p.usage) / p.size).toFixed(1)}%)` : ''}`;
    }
    lines.push(line);
  }
  if (pools.length === 0) lines.push(' (none of type lvm_thin or file-reflink)');
  return lines;
}

/** The archive overview, pure over the model. */
export function listResult(model: ArchiveModel, selected: readonly string[] | undefined): ListResult {
  const qubes: ListResult['qubes'] = {};
  const names = selected ?? Object.keys(model.qubeSessions).sort();
  for (const q of names) {
    const sessions = qubesSessionsOf(model, q);
    if (sessions.length > 0) qubes[q] = { sessions, newest: sessions[sessions.length - 1]! };
  }
  return {
    archive: {
      url: model.url,
      encrypted: model.encrypted ?? null,
      authenticated: model.authenticated ?? null,
      updatedAt: model.updatedAt,
    },
    sessions: model.qubesSessions.map((id) => ({
      id,
      tags: model.sessionTags[id] ?? {},
      qubes: model.sessionQubes[id] ?? [],
    })),
    qubes,
  };
}

function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const pad = (n: number): string => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + offset * 60_000).toISOString().replace('T', ' ').replace('Z', '');
  return `${local} (${sign}${pad(offset / 60)}:${pad(offset % 60)})`;
}

export const listCommand: CommandHandler = async (ctx) => {
  const o = ctx.options;
  return withJob(ctx, async ({ wyng, tmpDir }) => {
    const { model } = await wyng.list();
    requireQubesSessions(model);
    const selected = o.all ? undefined : ctx.args.length > 0 ? ctx.args : undefined;
    const result = listResult(model, selected);

    ctx.say(`\nURL ${model.url}`);
    ctx.say(`Last updated ${localTime(model.updatedAt)}`);
    if (model.encrypted !== undefined) {
      ctx.say(`Encryption: ${model.encrypted ? 'On' : 'OFF'}${model.authenticated === true ? ', Authenticated' : ''}`);
    }

    if (o.poolInfo) {
      // admin.pool.List + one admin.pool.Info per pool
      const client = new AdminClient(socketTransportFromConfig(ctx.config));
      try {
        result.pools = listPools(await client.pools());
      } finally {
        for (const line of client.log.format()) ctx.debug(line);
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
      for (const e of entries) ctx.say(`  ${e.name}${e.disposable ? ' (D)' : ''}`);
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
        for (const s of info.sessions) ctx.say(s);
      }
      const missing = selected.filter((q) => result.qubes[q] === undefined);
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
