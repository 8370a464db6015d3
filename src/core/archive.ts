import * as z from 'zod';
import { WqError } from './errors.ts';
import { isValidQubeName, printable } from './names.ts';

/** Name of the archive volume holding the gzip tar of Qubes' *.xml and notes.txt. */
export const METADATA_VOLUME = 'wyng-qubes-metadata';

/** `--local-from` / `--vols-from` JSON: pool path → [[archive name, local name]]. */
export type LocalFromMap = Record<string, Array<[string, string]>>;

/** Oldest Wyng we work with (docs/design.md "Wyng contract": wyng-util-qubes requires 0.8 / 20250820). */
export const MIN_WYNG_VERSION = '0.8';
export const MIN_WYNG_DATE = '20250820';

// ---- `wyng --json list` (docs/design.md "Wyng contract") -------------------------------------------------

const WyngSessionSchema = z.object({
  volsize: z.number().int().nonnegative(),
  sequence: z.number().int(),
  ts: z.number().nullable(),
  chg: z.boolean(),
  tags: z.record(z.string(), z.string()),
});

const WyngVolumeSchema = z.object({
  vid: z.string(),
  desc: z.string(),
  last: z.string(),
  ts: z.number().nullable(),
  sessions: z.record(z.string().regex(/^S_\d{8}-\d{6}$/, 'session key must be S_YYYYMMDD-HHMMSS'), WyngSessionSchema),
});

export const WyngListSchema = z.object({
  wversion: z.string(),
  fver: z.number().int().optional(),
  wdate: z.string().regex(/^\d{8}$/, 'wdate must be YYYYMMDD'),
  uuid: z.string().optional(),
  updated_at: z.union([z.string(), z.number()]),
  encrypted: z.boolean().optional(),
  is_auth: z.boolean().optional(),
  url: z.string(),
  volumes: z.record(z.string().min(1).max(512), WyngVolumeSchema),
});
export type WyngList = z.output<typeof WyngListSchema>;

/**
 * Extracts and validates the JSON document of `wyng --json list` stdout: banner lines come
 * first; the document starts at the first line beginning with `{` and must be the rest of
 * the output (no trailing newline in real Wyng, tolerated here).
 */
export function parseWyngListOutput(stdout: string): WyngList {
  const start = stdout.startsWith('{') ? 0 : stdout.indexOf('\n{') + 1;
  if (start === 0 && !stdout.startsWith('{')) {
    throw new WqError('input', 'Wyng list output contains no JSON document.');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(stdout.slice(start));
  } catch (err) {
    throw new WqError(
      'input',
      `Wyng list output is not valid JSON (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
  const parsed = WyngListSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue
      ? issue.path
          .map(String)
          .map((p) => printable(p, 60))
          .join('.')
      : '';
    throw new WqError('input', `Wyng list output is malformed at '${where}': ${issue?.message ?? 'invalid'}.`);
  }
  checkWyngVersion(parsed.data.wversion, parsed.data.wdate);
  return parsed.data;
}

export function checkWyngVersion(wversion: string, wdate: string): void {
  const m = /^(\d+)\.(\d+)/.exec(wversion);
  const [minMaj, minMin] = MIN_WYNG_VERSION.split('.').map(Number) as [number, number];
  const tooOld =
    m === null || Number(m[1]) < minMaj || (Number(m[1]) === minMaj && Number(m[2]) < minMin) || wdate < MIN_WYNG_DATE;
  if (tooOld) {
    throw new WqError(
      'wyng',
      `Wyng v${MIN_WYNG_VERSION} release ${MIN_WYNG_DATE} or later is required ` +
        `(found ${printable(wversion, 20)} release ${printable(wdate, 10)}).`,
      { wyngCode: 1 },
    );
  }
}

// ---- volume names (docs/design.md "Wyng contract") ----------------------------------------

export type VolumeKind = 'private' | 'root';

export interface VolumeNameParts {
  qube: string;
  kind: VolumeKind;
  format: 'lvm' | 'reflink';
}

/**
 * `vm-NAME-private|root` (LVM), `appvms/NAME/private.img|root.img`,
 * `vm-templates/NAME/root.img|private.img` (file-reflink). Anything else is not a qube volume.
 */
export function parseVolumeName(volume: string): VolumeNameParts | undefined {
  let m = /^vm-(.+)-(private|root)$/.exec(volume);
  if (m) return checkParts(m[1]!, m[2] as VolumeKind, 'lvm');
  m = /^(?:appvms|vm-templates)\/([^/]+)\/(private|root)\.img$/.exec(volume);
  if (m) return checkParts(m[1]!, m[2] as VolumeKind, 'reflink');
  return undefined;
}

function checkParts(qube: string, kind: VolumeKind, format: 'lvm' | 'reflink'): VolumeNameParts | undefined {
  return isValidQubeName(qube) ? { qube, kind, format } : undefined;
}

export function lvmVolumeName(qube: string, kind: VolumeKind): string {
  return `vm-${qube}-${kind}`;
}

export function reflinkVolumeName(qube: string, kind: VolumeKind, isTemplate: boolean): string {
  return `${isTemplate ? 'vm-templates' : 'appvms'}/${qube}/${kind}.img`;
}

// ---- the archive model --------------------------------------------------------------------

export interface QubeSessionVolumes {
  private?: string;
  root?: string;
  all: string[];
}

export interface ArchiveModel {
  url: string;
  encrypted: boolean | undefined;
  authenticated: boolean | undefined;
  /** ISO 8601 time of the archive's last update. */
  updatedAt: string;
  wyngVersion: string;
  wyngDate: string;
  /** volume → its sessions (ids without `S_`), oldest first. */
  volumeSessions: Record<string, string[]>;
  /** session → volumes in it (sorted). */
  sessionVolumes: Record<string, string[]>;
  /** session → tags merged over its volumes. */
  sessionTags: Record<string, Record<string, string>>;
  /** Qubes sessions (those holding the metadata volume), oldest first. */
  qubesSessions: string[];
  /** Qubes session → qubes with a volume in it (sorted). */
  sessionQubes: Record<string, string[]>;
  /** qube → session → its volumes in that session. */
  qubeSessions: Record<string, Record<string, QubeSessionVolumes>>;
  /** archive volume → qube. */
  volumeQube: Record<string, string>;
  /** Volume sizes per session (bytes), for reporting. */
  volumeSizes: Record<string, Record<string, number>>;
  /**
   * Qubes session → what identifies its metadata volume for good (the archive's uuid, the
   * volume's vid, the session, its timestamp, size and sequence): sessions never change once
   * written, so equal identities mean equal bytes (adapters/metadata-cache.ts). Empty when the
   * listing has no archive uuid.
   */
  metadataIdentity: Record<string, string>;
}

const sortedUnique = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

function updatedAtIso(value: string | number): string {
  const seconds = typeof value === 'number' ? value : Number.parseFloat(value);
  // a finite number can still be outside the Date range (toISOString would throw)
  const date = new Date(seconds * 1000);
  return Number.isFinite(date.getTime()) ? date.toISOString() : '';
}

/** Builds every lookup table docs/design.md "Wyng contract" names, as plain data. */
export function buildArchiveModel(list: WyngList): ArchiveModel {
  const volumeSessions: Record<string, string[]> = {};
  const sessionVolumeSets = new Map<string, Set<string>>();
  const sessionTags: Record<string, Record<string, string>> = {};
  const volumeSizes: Record<string, Record<string, number>> = {};

  for (const [volume, info] of Object.entries(list.volumes)) {
    const ids = Object.keys(info.sessions)
      .map((k) => k.slice(2))
      .sort();
    volumeSessions[volume] = ids;
    volumeSizes[volume] = {};
    for (const [key, session] of Object.entries(info.sessions)) {
      const id = key.slice(2);
      if (!sessionVolumeSets.has(id)) sessionVolumeSets.set(id, new Set());
      sessionVolumeSets.get(id)!.add(volume);
      sessionTags[id] = { ...(sessionTags[id] ?? {}), ...session.tags };
      volumeSizes[volume]![id] = session.volsize;
    }
  }

  const sessionVolumes: Record<string, string[]> = {};
  for (const id of [...sessionVolumeSets.keys()].sort()) sessionVolumes[id] = sortedUnique(sessionVolumeSets.get(id)!);

  const metadataSessions = new Set(volumeSessions[METADATA_VOLUME] ?? []);
  const qubesSessions = [...metadataSessions].sort();

  const qubeSessions: Record<string, Record<string, QubeSessionVolumes>> = {};
  const volumeQube: Record<string, string> = {};
  const sessionQubeSets = new Map<string, Set<string>>();

  for (const [volume, ids] of Object.entries(volumeSessions)) {
    const parts = parseVolumeName(volume);
    if (parts === undefined) continue;
    volumeQube[volume] = parts.qube;
    for (const id of ids) {
      const perQube = (qubeSessions[parts.qube] ??= {});
      const entry = (perQube[id] ??= { all: [] });
      entry.all.push(volume);
      entry.all.sort();
      entry[parts.kind] = volume;
      if (metadataSessions.has(id)) {
        if (!sessionQubeSets.has(id)) sessionQubeSets.set(id, new Set());
        sessionQubeSets.get(id)!.add(parts.qube);
      }
    }
  }
  const sessionQubes: Record<string, string[]> = {};
  for (const id of qubesSessions) sessionQubes[id] = sortedUnique(sessionQubeSets.get(id) ?? []);

  const metadataIdentity: Record<string, string> = {};
  const meta = list.volumes[METADATA_VOLUME];
  if (list.uuid !== undefined && list.uuid !== '' && meta !== undefined) {
    for (const [key, s] of Object.entries(meta.sessions)) {
      if (s.ts === null) continue;
      metadataIdentity[key.slice(2)] = JSON.stringify([list.uuid, meta.vid, key, s.ts, s.volsize, s.sequence]);
    }
  }

  return {
    url: list.url,
    encrypted: list.encrypted,
    authenticated: list.is_auth,
    updatedAt: updatedAtIso(list.updated_at),
    wyngVersion: list.wversion,
    wyngDate: list.wdate,
    volumeSessions,
    sessionVolumes,
    sessionTags,
    qubesSessions,
    sessionQubes,
    qubeSessions,
    volumeQube,
    volumeSizes,
    metadataIdentity,
  };
}

/** Qubes sessions (with metadata) in which this qube has volumes, oldest first. */
export function qubesSessionsOf(model: ArchiveModel, qube: string): string[] {
  const sessions = model.qubeSessions[qube];
  if (sessions === undefined) return [];
  const meta = new Set(model.qubesSessions);
  return Object.keys(sessions)
    .filter((s) => meta.has(s))
    .sort();
}

export function hasQubesSessions(model: ArchiveModel): boolean {
  return model.qubesSessions.length > 0;
}

export function requireQubesSessions(model: ArchiveModel): void {
  if (!hasQubesSessions(model)) throw new WqError('no-sessions', 'No Qubes backup sessions.');
}
