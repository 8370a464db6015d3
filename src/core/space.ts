// Space pre-flight (issue 19 §3): before any receive (restore) or send to a local destination
// (backup), the bytes each target needs against what it has free. Pure: the figures come from
// the archive's listing, admin.pool.UsageDetails and statfs, read by the callers.

/**
 * One volume's demand on one target (a pool, or a backup destination). `measured`: the figure is
 * the data the volume holds (a pool's usage, live or recorded at backup time); otherwise it is
 * Wyng's listed logical size, an upper bound for Qubes' sparse volumes.
 */
export interface SpaceNeed {
  target: string;
  bytes: number;
  measured: boolean;
}

/**
 * Demand and supply of one target. `free` null: the target does not say (never refused).
 * `measured`: the part of `needed` that is measured data (the rest are upper bounds); `short`:
 * `needed` exceeds `free`; `refused`: the measured part alone does — the operation cannot fit.
 */
export interface TargetSpace {
  target: string;
  needed: number;
  measured: number;
  free: number | null;
  short: boolean;
  refused: boolean;
}

/** Sums the needs per target and compares them with each target's free bytes. */
export function compareSpace(
  needs: readonly SpaceNeed[],
  free: ReadonlyMap<string, number | null | undefined>,
): TargetSpace[] {
  const sums = new Map<string, { needed: number; measured: number }>();
  for (const n of needs) {
    const sum = sums.get(n.target) ?? { needed: 0, measured: 0 };
    sum.needed += Math.max(0, n.bytes);
    if (n.measured) sum.measured += Math.max(0, n.bytes);
    sums.set(n.target, sum);
  }
  return [...sums.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([target, { needed, measured }]) => {
      const f = free.get(target);
      const known = typeof f === 'number' && Number.isFinite(f);
      return {
        target,
        needed,
        measured,
        free: known ? Math.max(0, f) : null,
        short: known && needed > f,
        refused: known && measured > f,
      };
    });
}

/**
 * What a restored volume needs in its pool: its data (recorded at backup time) or else its listed
 * size when the volume is new; when it replaces a live volume, what it may add beyond the space
 * that volume already holds.
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
  const lines = rows.map((r) => {
    const bound = r.measured < r.needed ? ` (${mib(r.measured)} of it recorded data, the rest listed sizes)` : '';
    const free = r.free === null ? 'free space unknown' : `${mib(r.free)} free`;
    const mark = r.refused ? '  — TOO SMALL' : r.short ? '  — may be too small' : '';
    return `  ${r.target}: needs up to ${mib(r.needed)}${bound}, ${free}${mark}`;
  });
  return `\n${title}:\n${lines.join('\n')}`;
}

/** The refusal message for the targets that cannot fit, or undefined when none is refused. */
export function spaceRefusal(what: string, rows: readonly TargetSpace[]): string | undefined {
  const refused = rows.filter((r) => r.refused);
  if (refused.length === 0) return undefined;
  const list = refused.map((r) => `${r.target} needs ${mib(r.measured)}, has ${mib(r.free ?? 0)} free`).join('; ');
  return `Not enough space for the ${what}: ${list}. Nothing was written; use --force to go on anyway.`;
}

/**
 * The warning for targets that look too small only by listed (logical) sizes: Qubes' volumes are
 * sparse and the archive does not record how much data they hold (made by wyng-util-qubes or
 * before wyng-qubes recorded it), so the receive usually writes far less. Undefined when none.
 */
export function spaceWarning(what: string, rows: readonly TargetSpace[]): string | undefined {
  const short = rows.filter((r) => r.short && !r.refused);
  if (short.length === 0) return undefined;
  const list = short.map((r) => `${r.target} needs up to ${mib(r.needed)}, has ${mib(r.free ?? 0)} free`).join('; ');
  return (
    `Warning: the ${what} may not fit: ${list}. These are the volumes' listed sizes; the archive does not ` +
    'record how much data they hold, and sparse volumes usually need far less. Going on.'
  );
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
