import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { privateDirProblem } from './fs/private.ts';

/** The part of the state dir that holds V8's compile cache. */
export const COMPILE_CACHE_DIR = 'compile-cache';

type Enable = (dir: string) => unknown;

/**
 * V8's compile cache for the bundle's modules (issue 17, cold start): Node.js 22.1 and later keep
 * the compiled code of every module loaded after `module.enableCompileCache(dir)` and reuse it at
 * the next start (~35 ms less before the first Wyng process of a restore, measured with Node 22.12;
 * Node.js 20 has no compile cache, and nothing happens). Compiled code read from a directory is
 * code this process runs — as root in dom0 — so the cache lives in the state dir and is used only
 * while that dir and the cache dir in it (when it exists) are directories owned by this user that
 * no one else may write. Any doubt: no cache, the program runs the same.
 */
export function enableCompileCache(
  env: NodeJS.ProcessEnv = process.env,
  /** Node's `module.enableCompileCache`; null or undefined when the Node version has none */
  enable: Enable | null | undefined = (nodeModule as { enableCompileCache?: Enable }).enableCompileCache,
): boolean {
  if (typeof enable !== 'function') return false;
  const stateDir = env.WYNG_QUBES_STATE_DIR || '/var/lib/wyng-qubes';
  const cacheDir = join(stateDir, COMPILE_CACHE_DIR);
  try {
    if (privateDirProblem(stateDir, true) !== undefined) return false;
    const cache = privateDirProblem(cacheDir, true);
    if (cache !== undefined && cache !== 'missing') return false;
    enable(cacheDir);
    return true;
  } catch {
    return false;
  }
}
