import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'tar';

/**
 * The metadata volume: a gzip tar of every `*.xml` and `notes.txt` below the Qubes dir,
 * relative paths, regular files only (symlinks are neither followed nor stored). Built
 * in-process; the working directory never changes (tar's `cwd` option only resolves paths).
 */
export function collectMetadataFiles(qubesDir: string, maxDepth = 8): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number): void => {
    if (depth > maxDepth) return;
    let names: string[];
    try {
      names = readdirSync(join(qubesDir, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(qubesDir, relPath));
      if (st.isDirectory()) walk(relPath, depth + 1);
      else if (st.isFile() && (name === 'notes.txt' || name.endsWith('.xml'))) out.push(relPath);
    }
  };
  walk('', 0);
  return out;
}

export async function buildMetadataTar(qubesDir: string, tarPath: string): Promise<string[]> {
  const files = collectMetadataFiles(qubesDir);
  await create({ gzip: true, file: tarPath, cwd: qubesDir, portable: true, noDirRecurse: true, follow: false }, files.map((f) => `./${f}`));
  return files;
}
