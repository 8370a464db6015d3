import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireJobLock, currentJob, lockFileOf } from '../../src/adapters/lock.ts';
import { WqError } from '../../src/core/errors.ts';

const LOCK_TS = join(import.meta.dirname, '..', '..', 'src', 'adapters', 'lock.ts');

function sandbox(): { state: string; lockDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wq-lock-'));
  return { state: join(dir, 'state'), lockDir: dir };
}

test('a second job waits, then reports busy; after release it gets the lock', async () => {
  const { state, lockDir } = sandbox();
  const first = await acquireJobLock(state, 1000, 'first', lockDir);
  assert.equal(currentJob(state, lockDir)?.job, 'first');
  const started = Date.now();
  await assert.rejects(
    acquireJobLock(state, 300, 'second', lockDir),
    (e: unknown) => e instanceof WqError && e.kind === 'busy' && e.exitCode === 9 && /first/.test(e.message),
  );
  assert.ok(Date.now() - started >= 250, 'waited before giving up');
  const waiting = acquireJobLock(state, 2000, 'third', lockDir);
  setTimeout(() => void first.release(), 100);
  const third = await waiting;
  assert.equal(currentJob(state, lockDir)?.job, 'third');
  await third.release();
  assert.equal(existsSync(join(state, 'wyng-qubes.lock')), false, 'holder record removed');
  assert.equal(currentJob(state, lockDir), undefined);
});

test('a holder record left by a dead process decides nothing: the lock is free', async () => {
  const { state, lockDir } = sandbox();
  const lock0 = await acquireJobLock(state, 0, 'setup', lockDir);
  await lock0.release();
  const record = JSON.stringify({ pid: process.pid, startTicks: '', job: 'ghost', since: 'x' });
  writeFileSync(join(state, 'wyng-qubes.lock'), record);
  // a record naming a LIVE pid (ours) is still only information: nobody holds the kernel lock
  assert.equal(currentJob(state, lockDir), undefined);
  const lock = await acquireJobLock(state, 0, 'mine', lockDir);
  assert.equal(currentJob(state, lockDir)?.job, 'mine');
  await lock.release();
});

test('100 trials of 10 jobs racing from a stale lock: never two holders', async () => {
  const { state, lockDir } = sandbox();
  let holding = 0;
  let maxHolding = 0;
  let overlaps = 0;
  mkdirSync(state, { recursive: true });
  for (let trial = 0; trial < 100; trial++) {
    // a stale holder record, as a killed job leaves it
    const ghost = { pid: 2 ** 22 + trial, startTicks: '1', job: 'ghost', since: 'x' };
    writeFileSync(join(state, 'wyng-qubes.lock'), JSON.stringify(ghost));
    let winners = 0;
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        let lock;
        try {
          lock = await acquireJobLock(state, 0, `racer-${i}`, lockDir);
        } catch (err) {
          assert.ok(err instanceof WqError && err.kind === 'busy', String(err));
          return;
        }
        winners += 1;
        holding += 1;
        if (holding > 1) overlaps += 1;
        maxHolding = Math.max(maxHolding, holding);
        await new Promise((r) => setTimeout(r, 2));
        holding -= 1;
        await lock.release();
      }),
    );
    assert.ok(winners >= 1, `trial ${trial}: someone got the lock`);
  }
  assert.equal(overlaps, 0);
  assert.equal(maxHolding, 1);
});

test('kill -9 of the holder releases the lock at once; its children never hold it', async () => {
  const { state, lockDir } = sandbox();
  const script = [
    `import { acquireJobLock } from ${JSON.stringify(LOCK_TS)};`,
    `import { spawn } from 'node:child_process';`,
    `await acquireJobLock(${JSON.stringify(state)}, 0, 'victim', ${JSON.stringify(lockDir)});`,
    // a long-lived child started while holding: it must not inherit the lock
    `const c = spawn('sleep', ['30'], { stdio: 'ignore', detached: true }); c.unref();`,
    `process.stdout.write(String(c.pid) + '\\n');`,
    'setInterval(() => {}, 1000);',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const grandchild = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
  });
  try {
    assert.equal(currentJob(state, lockDir)?.job, 'victim');
    await assert.rejects(
      acquireJobLock(state, 0, 'too-early', lockDir),
      (e: unknown) => (e as WqError).kind === 'busy',
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    // the record is still there, the kernel lock is not; the grandchild is still alive
    assert.ok(existsSync(join(state, 'wyng-qubes.lock')));
    assert.equal(currentJob(state, lockDir), undefined);
    process.kill(grandchild, 0);
    const lock = await acquireJobLock(state, 0, 'after', lockDir);
    assert.equal((JSON.parse(readFileSync(lock.path, 'utf8')) as { job: string }).job, 'after');
    await lock.release();
  } finally {
    try {
      process.kill(grandchild, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

test('a symlink planted as the lock file is refused, not followed', async () => {
  const { state, lockDir } = sandbox();
  const target = join(lockDir, 'target');
  writeFileSync(target, 'precious');
  symlinkSync(target, lockFileOf(state, lockDir));
  await assert.rejects(
    acquireJobLock(state, 0, 'x', lockDir),
    (e: unknown) => e instanceof WqError && e.kind === 'config' && /lock file/.test(e.message),
  );
  assert.equal(readFileSync(target, 'utf8'), 'precious');
});

test('an unwritable state dir is a clear configuration error', async () => {
  const { lockDir } = sandbox();
  const file = join(lockDir, 'not-a-dir');
  writeFileSync(file, '');
  chmodSync(file, 0o400);
  await assert.rejects(
    acquireJobLock(join(file, 'state'), 100, 'job', lockDir),
    (e: unknown) => e instanceof WqError && e.kind === 'config' && /not writable/.test(e.message),
  );
});
