import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { WqError } from '../../core/errors.ts';
import { printable } from '../../core/names.ts';

/**
 * Reads an UNTRUSTED metadata tarball (a backup's `wyng-qubes-metadata` volume) entirely in
 * memory: nothing is written to disk, so nothing can land outside our temp dir. Only regular
 * `*.xml` and `notes.txt` files with clean relative paths are accepted; anything else — links,
 * devices, FIFOs, sparse files, absolute paths, `..`, odd names, oversized content — refuses
 * the whole archive (qvm-backup design: verify before acting).
 */
export interface MetadataLimits {
  maxCompressedBytes: number;
  maxFileBytes: number;
  maxTotalBytes: number;
  maxFiles: number;
  maxDepth: number;
  maxPathLength: number;
}

export const DEFAULT_METADATA_LIMITS: MetadataLimits = {
  maxCompressedBytes: 64 * 1024 * 1024,
  maxFileBytes: 32 * 1024 * 1024,
  maxTotalBytes: 128 * 1024 * 1024,
  maxFiles: 20_000,
  maxDepth: 8,
  maxPathLength: 512,
};

/** Relative path → file content. */
export type MetadataFiles = Map<string, Buffer>;

const SEGMENT = /^[A-Za-z0-9_.+-]{1,128}$/;

function refuse(reason: string): never {
  throw new WqError('input', `Refusing backup metadata: ${reason}`);
}

/** Normalizes and checks one entry path; returns undefined for the archive's root dir. */
export function checkMetadataPath(raw: string, limits: MetadataLimits = DEFAULT_METADATA_LIMITS): string | undefined {
  if (raw.includes('\uFFFD') || /[\x00-\x1f\x7f]/.test(raw))
    refuse(`entry name '${printable(raw)}' is not clean UTF-8 text`);
  if (raw.length > limits.maxPathLength) refuse(`entry name longer than ${limits.maxPathLength} characters`);
  if (raw.startsWith('/')) refuse(`absolute path '${printable(raw)}'`);
  const segments = raw.split('/').filter((s, i, all) => !(s === '' && i === all.length - 1) && s !== '.');
  if (segments.length === 0) return undefined;
  for (const s of segments) {
    if (s === '..') refuse(`path with '..': '${printable(raw)}'`);
    if (!SEGMENT.test(s)) refuse(`entry name '${printable(raw)}' has characters outside [A-Za-z0-9_.+-]`);
  }
  if (segments.length > limits.maxDepth)
    refuse(`entry '${printable(raw)}' nested deeper than ${limits.maxDepth} levels`);
  return segments.join('/');
}

export function isWantedMetadataFile(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base === 'notes.txt' || (base.endsWith('.xml') && base.length > 4);
}

export function readMetadataTar(tgz: Buffer, limits: MetadataLimits = DEFAULT_METADATA_LIMITS): MetadataFiles {
  if (tgz.length > limits.maxCompressedBytes) refuse(`archive larger than ${limits.maxCompressedBytes} bytes`);
  let tarBytes: Buffer;
  const maxTarBytes = limits.maxTotalBytes + 16 * 1024 * 1024;
  try {
    tarBytes = gunzipSync(tgz, { maxOutputLength: maxTarBytes });
  } catch (err) {
    // zlib stops at maxOutputLength with ERR_BUFFER_TOO_LARGE (a decompression bomb)
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      refuse(`it uncompresses to more than ${maxTarBytes} bytes`);
    }
    refuse(`not a readable gzip file (${(err as Error).message})`);
  }
  const files: MetadataFiles = new Map();
  let total = 0;
  let count = 0;
  let failure: unknown;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      try {
        count += 1;
        if (count > limits.maxFiles) refuse(`more than ${limits.maxFiles} entries`);
        const path = checkMetadataPath(entry.path, limits);
        if (entry.type === 'Directory') {
          entry.resume();
          return;
        }
        if (entry.type !== 'File' && entry.type !== 'OldFile') {
          refuse(`entry '${printable(entry.path)}' is a ${entry.type}, not a regular file`);
        }
        if (path === undefined) refuse('file entry without a name');
        if (!isWantedMetadataFile(path))
          refuse(`unexpected file '${printable(path)}' (only *.xml and notes.txt belong in Qubes metadata)`);
        if (files.has(path)) refuse(`duplicate entry '${printable(path)}'`);
        const size = entry.size ?? 0;
        if (size > limits.maxFileBytes) refuse(`file '${printable(path)}' is larger than ${limits.maxFileBytes} bytes`);
        total += size;
        if (total > limits.maxTotalBytes) refuse(`content larger than ${limits.maxTotalBytes} bytes in total`);
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => files.set(path, Buffer.concat(chunks)));
      } catch (err) {
        failure ??= err;
        entry.resume();
      }
    },
  });
  // Entries node-tar skips without showing them to onReadEntry: GNU sparse files, tape volume
  // headers, continuation files, unknown type flags, oversized pax/long-name headers. Skipping
  // them would restore from something else than what the archive says: refuse instead.
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    failure ??= new WqError(
      'input',
      `Refusing backup metadata: entry '${printable(entry.path)}' is a ${entry.type}, not a regular file`,
    );
  });
  parser.on('warn', (code: string, message: string | Error) => {
    failure ??= new WqError(
      'input',
      `Refusing backup metadata: damaged tar (${code}: ${message instanceof Error ? message.message : message})`,
    );
  });
  parser.on('error', (err: Error) => {
    failure ??= new WqError('input', `Refusing backup metadata: damaged tar (${err.message})`);
  });
  try {
    parser.end(tarBytes);
  } catch (err) {
    failure ??= err;
  }
  if (failure !== undefined) throw failure;
  if (!files.has('qubes.xml')) refuse('it contains no qubes.xml');
  return files;
}
