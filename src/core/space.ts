// Space pre-flight (issue 19 §3): before any receive (restore) or send to a local destination
// (backup), the bytes each target needs against what it has free. Pure: the figures come from
// the archive's listing, admin.pool.UsageDetails and statfs, read by the callers.

/** One volume's demand on one target (a pool, or a backup destination). */
export interface SpaceNeed {
  target: string;
  bytes: number;
}

/** Demand and supply of one target. `free` null: the target does not say (never refused). */
export interface TargetSpace {
  target: string;
  needed: number;
  free: number | null;
  short: boolean;
}

/** Sums the needs per target and compares them with each target's free bytes. */
export function compareSpace(
  needs: readonly SpaceNeed[],
  free: ReadonlyMap<string, number | null | undefined>,
): TargetSpace[] {
  const needed = new Map<string, number>();
  for (const n of needs) needed.set(n.target, (needed.get(n.target) ?? 0) + Math.max(0, n.bytes));
  return [...needed.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([target, bytes]) => {
      const f = free.get(target);
      const known = typeof f === 'number' && Number.isFinite(f);
      return { target, needed: bytes, free: known ? Math.max(0, f) : null, short: known && bytes > f };
    });
}

/**
 * What a restored volume needs in its pool: its archived size when the volume is new; when it
 * replaces a live volume, what it may add beyond the space that volume already holds.
 */
export function restoreNeed(archivedSize: number, replacedUsage: number | undefined): number {
  return replacedUsage === undefined ? archivedSize : Math.max(0, archivedSize - replacedUsage);
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** The figures as the plan shows them. */
export function renderSpace(title: string, rows: readonly TargetSpace[]): string {
  if (rows.length === 0) return '';
  const lines = rows.map(
    (r) =>
      `  ${r.target}: needs up to ${mib(r.needed)}, ` +
      `${r.free === null ? 'free space unknown' : `${mib(r.free)} free`}${r.short ? '  — TOO SMALL' : ''}`,
  );
  return `\n${title}:\n${lines.join('\n')}`;
}

/** The refusal message for the targets that are too small, or undefined when all fit. */
export function spaceRefusal(what: string, rows: readonly TargetSpace[]): string | undefined {
  const short = rows.filter((r) => r.short);
  if (short.length === 0) return undefined;
  const list = short.map((r) => `${r.target} needs up to ${mib(r.needed)}, has ${mib(r.free ?? 0)} free`).join('; ');
  return `Not enough space for the ${what}: ${list}. Nothing was written; use --ignore-space to go on anyway.`;
}

/**
 * What a backup adds at its destination, as far as it can be known before the send: volumes new
 * to the archive their current usage (the bytes the pool holds for them), the metadata tar its
 * size. A volume the archive already holds sends only its changes, which nothing tells before
 * the send: it counts 0 (the figure is a floor for those, an upper bound for the rest —
 * compression and deduplication only make it smaller).
 */
export function backupNeed(input: {
  volumes: ReadonlyArray<{ archive: string; usage: number | undefined }>;
  archiveVolumes: ReadonlySet<string>;
  metadataBytes: number;
}): number {
  let bytes = input.metadataBytes;
  for (const v of input.volumes) if (!input.archiveVolumes.has(v.archive)) bytes += Math.max(0, v.usage ?? 0);
  return bytes;
}

/** The local directory of a `file:` destination, or undefined for any other kind of URL. */
export function localDestPath(dest: string | undefined): string | undefined {
  if (dest === undefined || !dest.startsWith('file:')) return undefined;
  const path = dest.slice('file:'.length);
  return path.startsWith('/') ? path : undefined;
}
