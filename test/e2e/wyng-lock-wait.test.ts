// Another program's Wyng run holds Wyng's machine-wide lock (Wyng then refuses at once, exit 1,
// "I/O ERROR obtaining lock on PATH", recorded in test/data/wyng/transcripts/err-lock-*): wyng-qubes
// starts the run again every second for as long as it waits for its own job lock
// (WYNG_QUBES_LOCK_TIMEOUT_MS), then reports Wyng's refusal. Against the fake Wyng, whose lock file
// holds its owner's pid (a live process: the lock is held; test/fakes/README.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

let sb: Sandbox;

before(async () => {
  sb = await buildSandbox({ archive: 'create' });
  const backup = await sb.run(['backup', '--dest', sb.archiveUrl, '-u', 'work']);
  assert.equal(backup.code, 0, backup.stderr);
});

after(async () => {
  await sb?.stop();
});

/** Holds the fake Wyng's lock with a live process until released. */
function holdLock(): { release: () => void; holder: ChildProcess } {
  // a live process whose command line names Wyng (the fake tells its lock from a recycled pid so)
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'wyng-lock-holder'], {
    stdio: 'ignore',
  });
  writeFileSync(sb.env.WYNG_FAKE_LOCK!, `${holder.pid}\n`);
  return {
    holder,
    release: () => {
      rmSync(sb.env.WYNG_FAKE_LOCK!, { force: true });
      holder.kill();
    },
  };
}

test('a list waits while another Wyng holds the lock, then runs', { timeout: 60_000 }, async () => {
  const lock = holdLock();
  const timer = setTimeout(lock.release, 2500);
  try {
    const t0 = Date.now();
    const r = await sb.run(['list', '--dest', sb.archiveUrl, '--json'], {
      env: { WYNG_QUBES_LOCK_TIMEOUT_MS: '20000' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 >= 2000, 'it waited for the lock');
    const lists = r.wyng.filter((c) => c.argv.includes('list'));
    assert.ok(lists.length >= 2, `Wyng was started again (${lists.length} list runs)`);
    assert.equal(r.json!.ok, true);
  } finally {
    clearTimeout(timer);
    lock.release();
  }
});

test('held longer than the wait: Wyng refusal is the error, as before', { timeout: 60_000 }, async () => {
  const lock = holdLock();
  try {
    const t0 = Date.now();
    const r = await sb.run(['list', '--dest', sb.archiveUrl, '--json'], {
      env: { WYNG_QUBES_LOCK_TIMEOUT_MS: '1500' },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /I\/O ERROR obtaining lock on /);
    assert.ok(Date.now() - t0 < 15_000, 'the wait is bounded');
  } finally {
    lock.release();
  }
});
