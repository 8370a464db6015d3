import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireJobLock, currentJob } from '../../src/adapters/lock.ts';
import { WqError } from '../../src/core/errors.ts';

test('a second job waits, then reports busy; after release it gets the lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-lock-'));
  const first = await acquireJobLock(dir, 1000, 'first');
  assert.equal(currentJob(dir)?.job, 'first');
  const started = Date.now();
  await assert.rejects(
    acquireJobLock(dir, 300, 'second'),
    (e: unknown) => e instanceof WqError && e.kind === 'busy' && e.exitCode === 9,
  );
  assert.ok(Date.now() - started >= 250, 'waited before giving up');
  const waiting = acquireJobLock(dir, 2000, 'third');
  setTimeout(() => void first.release(), 100);
  const third = await waiting;
  assert.equal(currentJob(dir)?.job, 'third');
  await third.release();
  assert.equal(existsSync(join(dir, 'wyng-qubes.lock')), false);
});

test('a lock left by a dead process is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-lock-'));
  writeFileSync(
    join(dir, 'wyng-qubes.lock'),
    JSON.stringify({ pid: 2 ** 22 + 12345, startTicks: '1', job: 'ghost', since: 'x' }),
  );
  const lock = await acquireJobLock(dir, 200, 'mine');
  assert.equal(currentJob(dir)?.job, 'mine');
  await lock.release();
});

test('an unwritable state dir is a clear configuration error', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'wq-lock-'));
  const file = join(parent, 'not-a-dir');
  writeFileSync(file, '');
  chmodSync(file, 0o400);
  await assert.rejects(
    acquireJobLock(join(file, 'state'), 100),
    (e: unknown) => e instanceof WqError && e.kind === 'config' && /not writable/.test(e.message),
  );
});
