import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { METADATA_VOLUME, type ArchiveModel } from '../../core/archive.ts';
import { WqError } from '../../core/errors.ts';
import { wyngArgv } from '../wyng/argv.ts';
import type { MetadataCache } from '../metadata-cache.ts';
import type { WyngArchive } from '../wyng/archive.ts';
import { DEFAULT_METADATA_LIMITS, readMetadataTar, type MetadataFiles, type MetadataLimits } from './safe-tar.ts';

/**
 * Receives a session's `wyng-qubes-metadata` tarball into the job's private temp dir
 * (`--save-to`) and reads it safely in memory. The tarball is removed right after.
 *
 * The volume is untrusted and dom0's /tmp is memory: its size is checked from the archive
 * listing BEFORE anything is received (Wyng writes exactly the listed volume size), and the
 * receive itself runs with a file-size bound (RLIMIT_FSIZE) at the same cap, so a listing that
 * lies cannot make Wyng write more either.
 */
export async function fetchSessionMetadata(
  wyng: Pick<WyngArchive, 'check' | 'globals' | 'list'> & { lastModel?: ArchiveModel | undefined },
  tmpDir: string,
  session: string,
  limits: MetadataLimits = DEFAULT_METADATA_LIMITS,
  cache?: MetadataCache,
): Promise<MetadataFiles> {
  return (await fetchSessionMetadataWithDigest(wyng, tmpDir, session, limits, cache)).files;
}

/** What a session's metadata volume held: its files, the sha256 of the tarball and the tarball itself. */
export interface ReceivedMetadata {
  files: MetadataFiles;
  /** sha256 of the tarball as received (dom0's backup record) */
  sha256: string;
  /** the tarball as received (kept by `restore --dry-run --keep-plan`) */
  tgz: Buffer;
}

/** Reads a metadata tarball received earlier (a kept plan) through the same safe reader and limits. */
export function readReceivedMetadata(tgz: Buffer, limits: MetadataLimits = DEFAULT_METADATA_LIMITS): ReceivedMetadata {
  if (tgz.length >= limits.maxCompressedBytes) {
    throw new WqError(
      'input',
      `Refusing backup metadata: archive larger than ${limits.maxCompressedBytes} bytes (${tgz.length}).`,
    );
  }
  return { files: readMetadataTar(tgz, limits), sha256: createHash('sha256').update(tgz).digest('hex'), tgz };
}

/** As fetchSessionMetadata, plus the sha256 of the tarball as received (dom0's backup record) and its bytes. */
export async function fetchSessionMetadataWithDigest(
  wyng: Pick<WyngArchive, 'check' | 'globals' | 'list'> & { lastModel?: ArchiveModel | undefined },
  tmpDir: string,
  session: string,
  limits: MetadataLimits = DEFAULT_METADATA_LIMITS,
  cache?: MetadataCache,
): Promise<ReceivedMetadata> {
  const model = wyng.lastModel ?? (await wyng.list()).model;
  const listed = model.volumeSizes[METADATA_VOLUME]?.[session];
  if (listed === undefined) {
    throw new WqError('selection', `Session ${session} holds no ${METADATA_VOLUME} volume.`);
  }
  // dom0's copy of this very session (sent or received before): no Wyng process. A copy that the
  // safe reader refuses is dropped and the metadata received (the archive's bytes decide).
  const identity = model.metadataIdentity[session];
  const copy = identity !== undefined && cache !== undefined ? cache.get(identity) : undefined;
  if (copy !== undefined && copy.length === listed) {
    try {
      return readReceivedMetadata(copy, limits);
    } catch {
      /* received below */
    }
  }
  if (listed > limits.maxCompressedBytes) {
    throw new WqError(
      'input',
      `Refusing backup metadata of session ${session}: the archive lists it as ${listed} bytes, ` +
        `more than ${limits.maxCompressedBytes}; nothing was received.`,
    );
  }
  const tarPath = join(tmpDir, `metadata-${session}.tgz`);
  rmSync(tarPath, { force: true });
  let tgz: Buffer;
  try {
    try {
      await wyng.check(wyngArgv.receiveMetadata(wyng.globals, { saveTo: tarPath, session }), {
        what: `receive of the metadata of session ${session}`,
        maxFileBytes: limits.maxCompressedBytes,
      });
    } catch (err) {
      const size = lstatSync(tarPath, { throwIfNoEntry: false })?.size ?? 0;
      if (size >= limits.maxCompressedBytes) {
        throw new WqError(
          'input',
          `Refusing backup metadata: archive larger than ${limits.maxCompressedBytes} bytes (the receive was stopped).`,
        );
      }
      throw err;
    }
    // size first: never read a huge file whole into memory
    const st = lstatSync(tarPath, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) {
      throw new WqError('wyng', `Wyng did not save the metadata of session ${session}.`, { wyngCode: 1 });
    }
    if (st.size >= limits.maxCompressedBytes) {
      throw new WqError(
        'input',
        `Refusing backup metadata: archive larger than ${limits.maxCompressedBytes} bytes (${st.size}).`,
      );
    }
    tgz = readFileSync(tarPath);
  } finally {
    rmSync(tarPath, { force: true });
  }
  const received = readReceivedMetadata(tgz, limits);
  if (identity !== undefined && tgz.length === listed) cache?.put(identity, tgz);
  return received;
}
