import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'tar';
import { isExcluded } from '../../core/dom0-home.ts';

/**
 * The relative paths of a home's regular files and directories, excludes left out. Links,
 * devices, FIFOs and sockets are never stored; nothing is followed.
 */
export function collectHomeEntries(home: string, excludes: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(rel === '' ? home : join(home, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (isExcluded(r, excludes)) continue;
      const st = lstatSync(join(home, r), { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) {
        out.push(r);
        walk(r);
      } else if (st.isFile()) out.push(r);
    }
  };
  walk('');
  return out;
}

/** A gzip tar of the home at `tarPath` (relative paths); returns the number of entries. */
export async function buildHomeTar(home: string, tarPath: string, excludes: readonly string[]): Promise<number> {
  const entries = collectHomeEntries(home, excludes);
  await create(
    {
      gzip: true,
      file: tarPath,
      cwd: home,
      portable: true,
      noDirRecurse: true,
      follow: false,
      // a file that became something else meanwhile is left out
      filter: (_p, st) => ('isFile' in st ? st.isFile() || st.isDirectory() : true),
    },
    entries.length > 0 ? entries.map((e) => `./${e}`) : ['.'],
  );
  return entries.length;
}
