import {
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  fchownSync,
  mkdirSync,
  openSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { checkHomeEntryPath, DEFAULT_HOME_LIMITS, type HomeLimits } from '../../core/dom0-home.ts';
import { WqError } from '../../core/errors.ts';
import { printable } from '../../core/names.ts';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Extracts an UNTRUSTED home tar into `dest`, a directory this function creates (it must not
 * exist). Only directories and regular files are made — links, devices, FIFOs, sparse or unknown
 * entries refuse the archive; paths are checked (no absolute, no `..`); files are created with
 * O_EXCL|O_NOFOLLOW, modes keep only the permission bits (no setuid/setgid/sticky), every entry
 * is owned by `owner`; counts and sizes are capped. A refusal stops at once (what was written so
 * far stays inside `dest`). Returns the number of files and bytes written.
 */
export async function extractHomeTar(
  tgzPath: string,
  dest: string,
  owner: Owner,
  limits: HomeLimits = DEFAULT_HOME_LIMITS,
): Promise<{ files: number; bytes: number }> {
  mkdirSync(dest, { mode: 0o700 });
  const own = (fd: number, mode: number): void => {
    fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode & 0o777);
  };
  const rootFd = openSync(dest, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    own(rootFd, 0o700);
  } finally {
    closeSync(rootFd);
  }
  let files = 0;
  let count = 0;
  let total = 0;
  let failure: unknown;
  const refuse = (reason: string): never => {
    throw new WqError('input', `Refusing the dom0 home archive: ${reason}`);
  };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      let fd: number | undefined;
      try {
        if (failure !== undefined) throw failure;
        count += 1;
        if (count > limits.maxFiles) refuse(`more than ${limits.maxFiles} entries`);
        const rel = checkHomeEntryPath(entry.path, limits);
        const mode = entry.mode ?? 0o600;
        if (entry.type === 'Directory') {
          if (rel !== undefined) {
            mkdirSync(join(dest, rel), { mode: 0o700 });
            const d = openSync(join(dest, rel), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
            try {
              own(d, (mode & 0o777) | 0o700);
            } finally {
              closeSync(d);
            }
          }
          entry.resume();
          return;
        }
        if (entry.type !== 'File' && entry.type !== 'OldFile')
          refuse(`entry '${printable(entry.path)}' is a ${entry.type}, not a regular file or directory`);
        if (rel === undefined) throw new WqError('input', 'Refusing the dom0 home archive: file entry without a name');
        const size = entry.size ?? 0;
        if (size > limits.maxFileBytes) refuse(`file '${printable(rel)}' is larger than ${limits.maxFileBytes} bytes`);
        total += size;
        if (total > limits.maxTotalBytes) refuse(`content larger than ${limits.maxTotalBytes} bytes in total`);
        fd = openSync(
          join(dest, rel),
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        const out = fd;
        own(out, mode);
        files += 1;
        entry.on('data', (c: Buffer) => {
          try {
            writeSync(out, c);
          } catch (err) {
            failure ??= err;
          }
        });
        entry.on('end', () => closeSync(out));
      } catch (err) {
        if (fd !== undefined) closeSync(fd);
        failure ??= err;
        entry.resume();
      }
    },
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    failure ??= new WqError(
      'input',
      `Refusing the dom0 home archive: entry '${printable(entry.path)}' is a ${entry.type}, not a regular file`,
    );
  });
  parser.on('warn', (code: string, message: string | Error) => {
    failure ??= new WqError(
      'input',
      `Refusing the dom0 home archive: damaged tar (${code}: ${message instanceof Error ? message.message : message})`,
    );
  });
  try {
    await pipeline(createReadStream(tgzPath), createGunzip(), parser);
  } catch (err) {
    failure ??= new WqError('input', `Refusing the dom0 home archive: ${(err as Error).message}`);
  }
  if (failure !== undefined) throw failure;
  return { files, bytes: total };
}
