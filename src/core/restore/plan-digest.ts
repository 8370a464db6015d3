import { createHash } from 'node:crypto';
import type { QubeSettings } from '../qubes/model.ts';
import type { LiveQube, SessionVolumes } from './plan.ts';

/**
 * The digest that binds a restore to its plan (`restore --dry-run --json` → `result.planDigest`,
 * `restore --expect-plan=DIGEST`; docs/design.md "Restore algorithm"). It covers everything the plan
 * was computed from, so equal digests mean the restore applies exactly the planned state:
 *  - the archive side: the session, the content of every file of its metadata volume that was read,
 *    the selected qubes' volumes in the session;
 *  - the live side: for each selected qube its class and power state (or absence), its settings and
 *    notes, plus the global properties, the running disposables of templates and the device API;
 *  - the request: the selection's options (`--exclude`, `--pref`, `--ignore-missing`, …) and `--pool`.
 * The digest of a plan for one qube alone is also given per plan entry (`qubeDigests`): it equals the
 * `planDigest` of a restore of that qube alone with the same options, so a caller that planned many
 * qubes can bind each single-qube restore (the Salt `restored` state does).
 */
export interface PlanDigestInput {
  session: string;
  /** the metadata volume's files as read (path → content) */
  metadata: ReadonlyMap<string, Buffer>;
  /** the selected qubes (archive names) in plan order */
  selected: readonly string[];
  /** requested names the session does not have */
  notMatched: readonly string[];
  sessionVolumes: Readonly<Record<string, SessionVolumes>>;
  live: {
    qubes: readonly LiveQube[];
    settings: ReadonlyMap<string, QubeSettings>;
    notes: Readonly<Record<string, string | null>>;
    globals: Readonly<Record<string, string>>;
    runningDispvmTemplates: Readonly<Record<string, unknown>>;
    deviceApi: string;
  };
  request: {
    exclude: readonly string[];
    includeDisposable: boolean;
    skip: ReadonlySet<string>;
    ignoreMissing: boolean;
    forceIncomplete: boolean;
    pool: string | null;
  };
}

/** Format version of the canonical document (a change of the document changes every digest). */
const DIGEST_VERSION = 1;

/**
 * JSON with object keys sorted at every level, Maps as objects, Sets as sorted arrays and undefined
 * members left out: the same data always gives the same text.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value));
}

function canonical(value: unknown): unknown {
  if (value instanceof Map) return canonical(Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), v])));
  if (value instanceof Set) return [...value].map(canonical).sort(compareJson);
  if (Buffer.isBuffer(value)) return { sha256: sha256Hex(value) };
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

function compareJson(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function digestFor(
  input: PlanDigestInput,
  metadata: ReadonlyMap<string, string>,
  liveByName: ReadonlyMap<string, LiveQube>,
  selected: readonly string[],
  notMatched: readonly string[],
): string {
  const qubes = [...new Set(selected)].sort().map((name) => {
    const l = liveByName.get(name);
    return {
      name,
      volumes: input.sessionVolumes[name] ?? null,
      live: l === undefined ? null : { klass: l.klass, state: l.state },
      settings: input.live.settings.get(name) ?? null,
      notes: input.live.notes[name] ?? null,
    };
  });
  const doc = {
    version: DIGEST_VERSION,
    session: input.session,
    metadata,
    qubes,
    notMatched: [...notMatched].sort(),
    live: {
      globals: input.live.globals,
      runningDispvmTemplates: input.live.runningDispvmTemplates,
      deviceApi: input.live.deviceApi,
    },
    // named fields only: the qube names of the request are the selection above
    request: {
      exclude: [...input.request.exclude].sort(),
      includeDisposable: input.request.includeDisposable,
      skip: input.request.skip,
      ignoreMissing: input.request.ignoreMissing,
      forceIncomplete: input.request.forceIncomplete,
      pool: input.request.pool,
    },
  };
  return sha256Hex(canonicalJson(doc));
}

/** The plan's digest and the digest of each selected qube's plan on its own. */
export function planDigest(input: PlanDigestInput): { planDigest: string; qubeDigests: Record<string, string> } {
  // each file's content hashed once (a large qubes.xml is not hashed again per qube)
  const metadata = new Map([...input.metadata].map(([path, data]) => [path, sha256Hex(data)]));
  const liveByName = new Map(input.live.qubes.map((q) => [q.name, q]));
  const qubeDigests: Record<string, string> = {};
  for (const name of input.selected) qubeDigests[name] = digestFor(input, metadata, liveByName, [name], []);
  return { planDigest: digestFor(input, metadata, liveByName, input.selected, input.notMatched), qubeDigests };
}

/** `--expect-plan`: a digest is 64 lowercase hex digits. */
export const PLAN_DIGEST_PATTERN = /^[0-9a-f]{64}$/;
