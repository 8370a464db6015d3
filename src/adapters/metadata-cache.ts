import { createHash } from 'node:crypto';
import { rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './fs/atomic.ts';
import { ensurePrivateDir, privateDirProblem, pruneEntries, readBoundedFile } from './fs/private.ts';
import { DEFAULT_METADATA_LIMITS } from './metadata/safe-tar.ts';

/**
 * dom0's copies of session metadata (issue 17: one Wyng process fewer per restore).
 *
 * A Wyng session never changes once written, so the metadata volume of a session is the same
 * bytes every time it is received. dom0 keeps the tarball it sent with a backup, and each one it
 * received, under `<state dir>/metadata-cache` (root-only 0700, files 0600, written atomically),
 * named by the sha256 of the session's identity in the archive listing: the archive's uuid, the
 * metadata volume's vid, the session, and that session's timestamp, size and sequence
 * (`metadataIdentity` in core/archive.ts). A restore or list of a session whose identity is
 * there reads the copy instead of running a Wyng receive; an archive re-created at the same place
 * has another uuid and never matches. A copy is input like a receive: it goes through the same
 * safe reader, and the plan digest covers its bytes. `verify` always receives.
 *
 * One file is a header line (the identity's hash and the tarball's sha256) and the tarball; a
 * file that does not match its header is removed and the metadata received again.
 */
export const METADATA_CACHE_DIR = 'metadata-cache';

/** At most this many sessions are kept (the least recently used go first). */
export const MAX_CACHED_SESSIONS = 32;

const ENTRY = /^[0-9a-f]{64}\.tgz$/;
const HEADER = /^wyng-qubes-metadata 1 ([0-9a-f]{64}) ([0-9a-f]{64})\n/;
const HEADER_BYTES = 'wyng-qubes-metadata 1 '.length + 64 + 1 + 64 + 1;

export interface MetadataCache {
  /** the tarball kept for this identity, or undefined */
  get(identity: string): Buffer | undefined;
  /** keeps a tarball for this identity (best effort: a failure only costs a receive later) */
  put(identity: string, tgz: Buffer): void;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** The metadata cache in `stateDir`. */
export function metadataCache(stateDir: string): MetadataCache {
  const dir = join(stateDir, METADATA_CACHE_DIR);
  return {
    get(identity) {
      if (privateDirProblem(dir) !== undefined) return undefined;
      const key = sha256(identity);
      const path = join(dir, `${key}.tgz`);
      let bytes: Buffer | undefined;
      try {
        bytes = readBoundedFile(
          path,
          HEADER_BYTES + DEFAULT_METADATA_LIMITS.maxCompressedBytes,
          'a kept metadata copy',
        );
      } catch {
        bytes = undefined;
      }
      if (bytes === undefined) return undefined;
      const m = HEADER.exec(bytes.subarray(0, HEADER_BYTES).toString('latin1'));
      const tgz = bytes.subarray(HEADER_BYTES);
      if (m === null || m[1] !== key || m[2] !== sha256(tgz)) {
        rmSync(path, { force: true });
        return undefined;
      }
      try {
        const now = new Date();
        utimesSync(path, now, now); // recently used: pruned last
      } catch {
        /* still usable */
      }
      return Buffer.from(tgz);
    },
    put(identity, tgz) {
      try {
        const d = ensurePrivateDir(stateDir, METADATA_CACHE_DIR, 'the metadata cache');
        const key = sha256(identity);
        const header = Buffer.from(`wyng-qubes-metadata 1 ${key} ${sha256(tgz)}\n`, 'latin1');
        writeFileAtomic(join(d, `${key}.tgz`), Buffer.concat([header, tgz]), { mode: 0o600 });
        pruneEntries(d, ENTRY, MAX_CACHED_SESSIONS);
      } catch {
        /* best effort */
      }
    },
  };
}
