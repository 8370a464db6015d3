// V8's compile cache (adapters/compile-cache.ts): enabled in the state dir only while the state
// dir and the cache dir are this user's and nobody else may write them; never on a Node.js
// without the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPILE_CACHE_DIR, enableCompileCache } from '../../src/adapters/compile-cache.ts';

function attempt(stateDir: string): string[] {
  const calls: string[] = [];
  enableCompileCache({ WYNG_QUBES_STATE_DIR: stateDir }, (dir) => calls.push(dir));
  return calls;
}

test('the cache dir of a private state dir is handed to Node; anything doubtful is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'wq-cc-'));
  try {
    const state = join(root, 'state');
    assert.deepEqual(attempt(state), [], 'no state dir yet');
    mkdirSync(state, { mode: 0o700 });
    assert.deepEqual(attempt(state), [join(state, COMPILE_CACHE_DIR)]);
    mkdirSync(join(state, COMPILE_CACHE_DIR), { mode: 0o755 });
    assert.deepEqual(attempt(state), [join(state, COMPILE_CACHE_DIR)], 'an existing cache dir of ours');

    chmodSync(join(state, COMPILE_CACHE_DIR), 0o777);
    assert.deepEqual(attempt(state), [], 'a cache dir others may write');
    chmodSync(join(state, COMPILE_CACHE_DIR), 0o755);
    chmodSync(state, 0o770);
    assert.deepEqual(attempt(state), [], 'a state dir the group may write');
    chmodSync(state, 0o700);

    if (process.geteuid?.() === 0) {
      chownSync(join(state, COMPILE_CACHE_DIR), 4242, 4242);
      assert.deepEqual(attempt(state), [], 'a cache dir of another user');
      chownSync(join(state, COMPILE_CACHE_DIR), 0, 0);
    }
    rmSync(join(state, COMPILE_CACHE_DIR), { recursive: true });
    symlinkSync(root, join(state, COMPILE_CACHE_DIR));
    assert.deepEqual(attempt(state), [], 'a symlink');

    const linked = join(root, 'linked-state');
    symlinkSync(state, linked);
    assert.deepEqual(attempt(linked), [], 'a state dir that is a symlink');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a Node.js without the API, or an API that throws: no cache, no error', () => {
  const state = mkdtempSync(join(tmpdir(), 'wq-cc-'));
  try {
    assert.equal(enableCompileCache({ WYNG_QUBES_STATE_DIR: state }, null), false);
    assert.equal(
      enableCompileCache({ WYNG_QUBES_STATE_DIR: state }, () => {
        throw new Error('EACCES');
      }),
      false,
    );
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});
