// The volume record of a Qubes session (issue 19 §3): how many bytes each volume the backup sent
// held in its pool at backup time (the Admin API's `usage`). Wyng's listing only knows a volume's
// logical size, and Qubes' pools hold volumes sparse (a 2 GiB private volume often holds a few
// MiB), so the restore's space pre-flight reads this record to know what a receive will write.
//
// It travels inside the metadata volume as one more small XML file at the top of the tar, named
// `*.xml` so that readers that accept only `*.xml` and `notes.txt` (older wyng-qubes, and
// wyng-util-qubes, which ignores files it does not know) read such archives unchanged. Its
// content comes from the archive, so it is untrusted: the safe XML reader, strict names and
// numbers, a size cap; a record that lies can only make the pre-flight's figure wrong, never
// cause a write.
import * as z from 'zod';
import { WqError } from './errors.ts';
import { parseSafeXml } from './qubesxml/safe-xml.ts';

/** The record's path inside the metadata tar (top level; the Qubes dir has no such file). */
export const VOLUME_RECORD_FILE = 'wyng-qubes-volumes.xml';
const ROOT = 'wyng-qubes-volumes';
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/** Archive volume names as wyng-qubes sends them: `appvms/NAME/private.img` and the like. */
const SEGMENT = String.raw`(?!\.\.?(?:/|$))[A-Za-z0-9_.+-]{1,64}`;
const ArchiveVolumeName = z.string().regex(new RegExp(`^${SEGMENT}(?:/${SEGMENT}){0,3}$`));
const Bytes = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/)
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n));
const RecordEntry = z.object({ name: ArchiveVolumeName, usage: Bytes }).strict();

export interface VolumeUsage {
  /** the volume's name in the archive */
  archive: string;
  /** bytes it held in its pool when it was backed up */
  usage: number;
}

/** The record's XML text (sorted by name; one element per volume). */
export function renderVolumeRecord(volumes: readonly VolumeUsage[]): string {
  const lines = [...volumes]
    .sort((a, b) => (a.archive < b.archive ? -1 : a.archive > b.archive ? 1 : 0))
    .map((v) => {
      if (!ArchiveVolumeName.safeParse(v.archive).success) throw new Error(`bad archive volume name ${v.archive}`);
      return `  <volume name="${v.archive}" usage="${Math.max(0, Math.trunc(v.usage))}"/>`;
    });
  return `<?xml version="1.0" encoding="utf-8"?>\n<${ROOT} version="1">\n${lines.join('\n')}\n</${ROOT}>\n`;
}

/**
 * Reads a session's record: archive volume name → bytes used at backup time. Anything malformed
 * refuses (WqError 'input') — the caller decides whether that fails the run or only drops the
 * figures.
 */
export function parseVolumeRecord(input: Uint8Array, source: string): Map<string, number> {
  if (input.length > MAX_RECORD_BYTES)
    throw new WqError('input', `Refusing ${source}: larger than ${MAX_RECORD_BYTES} bytes.`);
  const root = parseSafeXml(input, ROOT, source, { maxBytes: MAX_RECORD_BYTES, maxDepth: 3, maxElements: 100_000 });
  if (root.attrs.version !== '1') throw new WqError('input', `Refusing ${source}: unknown record version.`);
  const out = new Map<string, number>();
  for (const child of root.children) {
    const entry = child.tag === 'volume' ? RecordEntry.safeParse(child.attrs) : undefined;
    if (entry === undefined || !entry.success)
      throw new WqError('input', `Refusing ${source}: an entry is not <volume name="…" usage="BYTES"/>.`);
    if (out.has(entry.data.name)) throw new WqError('input', `Refusing ${source}: a volume is named twice.`);
    out.set(entry.data.name, entry.data.usage);
  }
  return out;
}
