import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { WqError } from '../../core/errors.ts';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds Wyng (docs/design.md "Wyng contract"): `--wyng` / WYNG_QUBES_WYNG, else `wyng` beside this program's own
 * file, else on PATH.
 */
export function locateWyng(
  explicit: string | undefined,
  programPath: string | undefined,
  pathEnv: string | undefined,
): string {
  if (explicit !== undefined) {
    const p = isAbsolute(explicit) ? explicit : resolve(explicit);
    if (!executable(p)) throw new WqError('config', `Wyng not found or not executable at '${explicit}'.`);
    return p;
  }
  if (programPath !== undefined) {
    try {
      const beside = join(dirname(realpathSync(programPath)), 'wyng');
      if (executable(beside)) return beside;
    } catch {
      // program path not resolvable (library use): fall through to PATH
    }
  }
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'wyng');
    if (executable(candidate)) return candidate;
  }
  throw new WqError('config', 'Wyng not found: install it on PATH or beside wyng-qubes, or give --wyng=PATH.');
}
