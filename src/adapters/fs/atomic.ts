import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Replaces a file atomically: a new temp file beside it (`NAME.wyng-qubes-PID.tmp`, created exclusively
 * with `mode`), then rename. Readers see the old file or the new one, never a part; the temp
 * file is removed when anything fails. The directory must exist.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode: number }): void {
  const tmp = `${path}.wyng-qubes-${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    writeFileSync(tmp, data, { mode: options.mode, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
