import { qubesSessionsOf, type ArchiveModel } from './archive.ts';
import { DOM0_HOME_VOLUME } from './dom0-home.ts';
import type { PoolInfo } from './qubesapi/parse.ts';

/** `list --json` result (README "JSON output"). */
export interface ListResult {
  archive: { url: string; encrypted: boolean | null; authenticated: boolean | null; updatedAt: string };
  /** bytes: the sum of Wyng's `volsize` of every volume in the session (the size of what it restores) */
  sessions: Array<{ id: string; tags: Record<string, string>; qubes: string[]; bytes: number }>;
  /** bytes: the qube's volumes in its newest session; sessionBytes: per session (Wyng's `volsize`, bytes) */
  qubes: Record<string, { sessions: string[]; newest: string; bytes: number; sessionBytes: Record<string, number> }>;
  session?: {
    id: string;
    tags: Record<string, string>;
    qubes: Array<{ name: string; class: string; disposable: boolean }>;
  };
  /** Qubes sessions that hold dom0's home (`backup --dom0-home`), when any */
  dom0Home?: string[];
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

/** The size of a qube's volumes in one session (Wyng's `volsize`, bytes). */
export function qubeBytes(model: ArchiveModel, qube: string, session: string): number {
  const volumes = model.qubeSessions[qube]?.[session]?.all ?? [];
  return volumes.reduce((sum, v) => sum + (model.volumeSizes[v]?.[session] ?? 0), 0);
}

/** The archive overview, pure over the model. */
export function listResult(model: ArchiveModel, selected: readonly string[] | undefined): ListResult {
  const qubes: ListResult['qubes'] = {};
  const home = (model.volumeSessions[DOM0_HOME_VOLUME] ?? []).filter((s) => model.qubesSessions.includes(s));
  const names = selected ?? Object.keys(model.qubeSessions).sort();
  for (const q of names) {
    const sessions = qubesSessionsOf(model, q);
    if (sessions.length === 0) continue;
    const sessionBytes: Record<string, number> = {};
    for (const id of sessions) sessionBytes[id] = qubeBytes(model, q, id);
    const newest = sessions[sessions.length - 1]!;
    qubes[q] = { sessions, newest, bytes: sessionBytes[newest]!, sessionBytes };
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
      bytes: (model.sessionVolumes[id] ?? []).reduce((sum, v) => sum + (model.volumeSizes[v]?.[id] ?? 0), 0),
    })),
    qubes,
    ...(home.length > 0 ? { dom0Home: home } : {}),
  };
}

/** An ISO time as local time with its UTC offset (`2024-01-02 03:04:05.000 (+01:00)`). */
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const pad = (n: number): string => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + offset * 60_000).toISOString().replace('T', ' ').replace('Z', '');
  return `${local} (${sign}${pad(offset / 60)}:${pad(offset % 60)})`;
}

/**
 * The human text of `list` (one format, two users: the use case prints it as it lists, and
 * `remote` rebuilds it from the `--json` result, src/cli/render.ts).
 */
export const listText = {
  /** The archive header: URL (null: withheld by dom0 from a remote caller), last update, encryption. */
  header(archive: {
    url: string | null;
    updatedAt: string;
    encrypted?: boolean | null | undefined;
    authenticated?: boolean | null | undefined;
  }): string[] {
    const out = [`\nURL ${archive.url ?? '(withheld by dom0)'}`, `Last updated ${localTime(archive.updatedAt)}`];
    if (typeof archive.encrypted === 'boolean') {
      out.push(
        `Encryption: ${archive.encrypted ? 'On' : 'OFF'}${archive.authenticated === true ? ', Authenticated' : ''}`,
      );
    }
    return out;
  },
  /** `--session ID`: the qubes of the session, then its tags (the empty `qubes` tag left out). */
  session(
    id: string,
    qubes: ReadonlyArray<{ name: string; disposable: boolean; bytes?: number }>,
    tags: [string, string][],
  ): string[] {
    // sizes (when known): each qube's volumes in the session
    const width = Math.max(0, ...qubes.map((e) => e.name.length));
    const line = (e: { name: string; disposable: boolean; bytes?: number }): string =>
      e.disposable || e.bytes === undefined
        ? `  ${e.name}${e.disposable ? ' (D)' : ''}`
        : `  ${e.name.padEnd(width)}  ${humanBytes(e.bytes)}`;
    const out = [`\nVMs in session ${id}:`, ...qubes.map(line)];
    const shown = tags.filter(([k, v]) => !(k === 'qubes' && v === ''));
    if (shown.length > 0) {
      out.push('\nTags in session:');
      for (const [k, v] of shown) out.push(`  ${k.padEnd(12)} - ${v}`);
    }
    return out;
  },
  /** Named qubes: each qube's sessions. */
  qubes(entries: ReadonlyArray<[string, readonly string[], Readonly<Record<string, number>>?]>): string[] {
    return entries.flatMap(([q, sessions, bytes]) => [
      `\n${q}:`,
      ...sessions.map((s) => (bytes?.[s] !== undefined ? `${s}  ${humanBytes(bytes[s])}` : s)),
    ]);
  },
  /** No qube named: the newest session of every archived qube. */
  overview(entries: ReadonlyArray<[string, string]>): string[] {
    return [
      '\n* Archived Qubes VMs *',
      '\nLatest:           VM Name:',
      ...entries.map(([q, newest]) => `${newest}   ${q}`),
    ];
  },
};
