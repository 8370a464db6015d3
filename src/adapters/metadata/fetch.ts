import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WqError } from '../../core/errors.ts';
import { wyngArgv } from '../../core/wyng-argv.ts';
import type { WyngArchive } from '../wyng/archive.ts';
import { readMetadataTar, type MetadataFiles } from './safe-tar.ts';

/**
 * Receives a session's `wyng-qubes-metadata` tarball into the job's private temp dir
 * (`--save-to`) and reads it safely in memory. The tarball is removed right after.
 */
export async function fetchSessionMetadata(wyng: WyngArchive, tmpDir: string, session: string): Promise<MetadataFiles> {
  const tarPath = join(tmpDir, `metadata-${session}.tgz`);
  rmSync(tarPath, { force: true });
  await wyng.check(wyngArgv.receiveMetadata(wyng.globals, { saveTo: tarPath, session }), `receive of the metadata of session ${session}`, false);
  let tgz: Buffer;
  try {
    tgz = readFileSync(tarPath);
  } catch {
    throw new WqError('wyng', `Wyng did not save the metadata of session ${session}.`, { wyngCode: 1 });
  } finally {
    rmSync(tarPath, { force: true });
  }
  return readMetadataTar(tgz);
}
