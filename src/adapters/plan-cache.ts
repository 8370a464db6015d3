import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as z from 'zod';
import { WqError } from '../core/errors.ts';
import { writeFileAtomic } from './fs/atomic.ts';
import { ensurePrivateDir, privateDirProblem, pruneEntries, readBoundedFile } from './fs/private.ts';
import { DEFAULT_METADATA_LIMITS } from './metadata/safe-tar.ts';

/**
 * The restore plan cache (issue 14 §1: "the Salt `restored` state plans once and restores that
 * plan, never fetching the metadata twice").
 *
 * `restore --dry-run --json --keep-plan` keeps what its plan was made from — Wyng's list output and
 * the session's metadata tarball as received — as one entry under `<state dir>/plans` (root-only,
 * 0700; each entry 0600, written atomically) named by a random 128-bit id, the dry run's `planId`.
 * `restore --from-plan=ID --expect-plan=DIGEST` reads that entry instead of running `wyng list` and
 * receiving the metadata again. The entry is input like the archive itself: the tarball goes
 * through the same safe reader with the same limits, the list through the same parser, and the
 * plan digest (`--expect-plan`) still binds the restore, so an entry that changed cannot apply
 * anything but the approved plan. Entries older than PLAN_TTL_MS are not used (the restore
 * receives the metadata again) and are removed when a new one is written, as are the oldest beyond
 * MAX_ENTRIES.
 *
 * One entry is one file: a header line (JSON: format version, time, the `--dest` it was planned
 * with, the byte lengths of its parts), then the list output's bytes, then the tarball's bytes.
 */
export const PLAN_CACHE_DIR = 'plans';

/** How long an entry is used (and kept): a day. */
export const PLAN_TTL_MS = 24 * 60 * 60 * 1000;

/** At most this many entries are kept (the oldest go first). */
export const MAX_ENTRIES = 64;

/** A plan id: 128 random bits as 32 lowercase hex digits. */
export const PLAN_ID_PATTERN = /^[0-9a-f]{32}$/;

/** The largest Wyng list output kept (a listing of many thousands of volumes stays far below). */
const MAX_LIST_BYTES = 32 * 1024 * 1024;
const MAX_HEADER_BYTES = 4096;

const HeaderSchema = z.strictObject({
  version: z.literal(1),
  /** ms since the epoch, when the entry was written */
  createdAt: z.number().int().nonnegative(),
  /** `--dest` of the dry run (after the profile); null: none given (Wyng's own default) */
  dest: z.string().max(4096).nullable(),
  /** the session the plan restores from */
  session: z.string().regex(/^\d{8}-\d{6}$/),
  listBytes: z.number().int().min(1).max(MAX_LIST_BYTES),
  metadataBytes: z.number().int().min(1).max(DEFAULT_METADATA_LIMITS.maxCompressedBytes),
});

/** What a plan was made from. */
export interface PlanSource {
  /** `--dest` the plan was made with (null: none) */
  dest: string | null;
  /** the session the plan restores from (the tarball is its metadata) */
  session: string;
  /** Wyng's `list --json` stdout, as it came */
  listStdout: string;
  /** the session's metadata tarball, as received */
  metadataTgz: Buffer;
}

/** A kept entry, or why there is none to use. */
export type PlanEntryReading = { found: true; source: PlanSource; createdAt: number } | { found: false; why: string };

export function planCacheDir(stateDir: string): string {
  return join(stateDir, PLAN_CACHE_DIR);
}

const entryName = (id: string): string => `${id}.plan`;

/** The entry's bytes: header line, list, tarball (exported for tests that tamper with an entry). */
export function encodePlanEntry(source: PlanSource, createdAt: number): Buffer {
  const list = Buffer.from(source.listStdout, 'utf8');
  const header = {
    version: 1,
    createdAt,
    dest: source.dest,
    session: source.session,
    listBytes: list.length,
    metadataBytes: source.metadataTgz.length,
  };
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), list, source.metadataTgz]);
}

/** Parses an entry's bytes; throws an `input` error for anything but a well-formed entry. */
export function decodePlanEntry(bytes: Buffer, what: string): { source: PlanSource; createdAt: number } {
  const bad = (why: string): WqError =>
    new WqError('input', `The kept plan ${what} is unusable (${why}); nothing was restored. Plan again.`);
  const nl = bytes.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  if (nl < 0) throw bad('no header');
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.subarray(0, nl).toString('utf8'));
  } catch {
    throw bad('header is not JSON');
  }
  const header = HeaderSchema.safeParse(doc);
  if (!header.success) throw bad('bad header');
  const h = header.data;
  if (bytes.length !== nl + 1 + h.listBytes + h.metadataBytes) throw bad('its size does not match its header');
  const list = bytes.subarray(nl + 1, nl + 1 + h.listBytes);
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let text: string;
  try {
    text = decoder.decode(list);
  } catch {
    throw bad('the list is not UTF-8');
  }
  return {
    source: {
      dest: h.dest,
      session: h.session,
      listStdout: text,
      metadataTgz: Buffer.from(bytes.subarray(nl + 1 + h.listBytes)),
    },
    createdAt: h.createdAt,
  };
}

function ensureCacheDir(stateDir: string): string {
  return ensurePrivateDir(stateDir, PLAN_CACHE_DIR, 'the plan cache');
}

/**
 * Removes entries older than the TTL (and stray temp files of dead writers) from the cache dir, and
 * the oldest beyond MAX_ENTRIES - 1 (a Salt highstate every few minutes keeps a plan each time).
 */
function removeExpired(dir: string, now: number): void {
  pruneEntries(dir, /^[0-9a-f]{32}\.plan$/, MAX_ENTRIES - 1, (mtimeMs) => now - mtimeMs > PLAN_TTL_MS);
}

/** Keeps what a plan was made from; returns the new entry's id. Expired entries are removed first. */
export function keepPlan(stateDir: string, source: PlanSource, now = Date.now()): string {
  const dir = ensureCacheDir(stateDir);
  removeExpired(dir, now);
  const id = randomBytes(16).toString('hex');
  writeFileAtomic(join(dir, entryName(id)), encodePlanEntry(source, now), { mode: 0o600 });
  return id;
}

/**
 * Reads the entry `id` (checked against PLAN_ID_PATTERN before any file is touched). Missing or
 * expired: `found: false` with the reason (the restore receives the metadata again). Present but
 * not a well-formed entry of ours: an `input` error (nothing restored).
 */
export function readKeptPlan(stateDir: string, id: string, now = Date.now()): PlanEntryReading {
  if (!PLAN_ID_PATTERN.test(id)) throw new WqError('option', '--from-plan must be a plan id (32 lowercase hex digits)');
  const dir = planCacheDir(stateDir);
  const problem = privateDirProblem(dir);
  if (problem === 'missing') return { found: false, why: 'no plan is kept' };
  if (problem !== undefined) throw new WqError('config', `Refusing the plan cache '${dir}': ${problem}.`);
  const path = join(dir, entryName(id));
  const limit = MAX_HEADER_BYTES + MAX_LIST_BYTES + DEFAULT_METADATA_LIMITS.maxCompressedBytes;
  const bytes = readBoundedFile(path, limit, 'the kept plan');
  if (bytes === undefined) return { found: false, why: `plan ${id} is not kept (expired or never made)` };
  const entry = decodePlanEntry(bytes, id);
  if (now - entry.createdAt > PLAN_TTL_MS || entry.createdAt > now + 60_000)
    return { found: false, why: `plan ${id} has expired` };
  return { found: true, ...entry };
}
