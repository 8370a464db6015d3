import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WqError } from '../../core/errors.ts';
import { wyngArgv } from '../wyng/argv.ts';
import type { WyngArchive } from '../wyng/archive.ts';
import { DEFAULT_METADATA_LIMITS, readMetadataTar, type MetadataFiles, type MetadataLimits } from './safe-tar.ts';

/**
 * Receives a session's `wyng-qubes-metadata` tarball into the job's private temp dir
 * (`--save-to`) and reads it safely in memory. The tarball is removed right after.
 */
export async function fetchSessionMetadata(
  wyng: Pick<WyngArchive, 'check' | 'globals'>,
  tmpDir: string,
  session: string,
  limits: MetadataLimits = DEFAULT_METADATA_LIMITS,
): Promise<MetadataFiles> {
  return (await fetchSessionMetadataWithDigest(wyng, tmpDir, session, limits)).files;
}

/** As fetchSessionMetadata, plus the sha256 of the tarball as received (dom0's backup record). */
export async function fetchSessionMetadataWithDigest(
  wyng: Pick<WyngArchive, 'check' | 'globals'>,
  tmpDir: string,
  session: string,
  limits: MetadataLimits = DEFAULT_METADATA_LIMITS,
): Promise<{ files: MetadataFiles; sha256: string }> {
  const tarPath = join(tmpDir, `metadata-${session}.tgz`);
  rmSync(tarPath, { force: true });
  await wyng.check(wyngArgv.receiveMetadata(wyng.globals, { saveTo: tarPath, session }), {
    what: `receive of the metadata of session ${session}`,
  });
  let tgz: Buffer;
  try {
    // size first: the volume is untrusted and may be huge (never read it whole into memory)
    const st = lstatSync(tarPath, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) {
      throw new WqError('wyng', `Wyng did not save the metadata of session ${session}.`, { wyngCode: 1 });
    }
    if (st.size > limits.maxCompressedBytes) {
      throw new WqError(
        'input',
        `Refusing backup metadata: archive larger than ${limits.maxCompressedBytes} bytes (${st.size}).`,
      );
    }
    tgz = readFileSync(tarPath);
  } finally {
    rmSync(tarPath, { force: true });
  }
  return { files: readMetadataTar(tgz, limits), sha256: createHash('sha256').update(tgz).digest('hex') };
}
