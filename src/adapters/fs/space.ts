import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Bytes an unprivileged writer could still put on the file system holding `path` (statfs
 * `bavail`), looking at the nearest existing ancestor; undefined when none can be read.
 */
export function freeBytesAt(path: string): number | undefined {
  let p = path;
  for (let i = 0; i < 64; i += 1) {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize;
    } catch {
      const up = dirname(p);
      if (up === p) return undefined;
      p = up;
    }
  }
  return undefined;
}
