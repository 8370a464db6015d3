// The restore plan cache (adapters/plan-cache.ts; issue 14 §1): entries are 0600 files in a 0700
// dir of the state dir, named by 128 random bits; an id is checked before any file is touched;
// expired entries are not used and are removed when a new one is kept; anything but a well-formed
// entry of ours (a symlink, a short or garbled file, a dir open to others) is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodePlanEntry,
  encodePlanEntry,
  keepPlan,
  MAX_ENTRIES,
  PLAN_TTL_MS,
  planCacheDir,
  readKeptPlan,
  type PlanSource,
} from '../../src/adapters/plan-cache.ts';
import { WqError } from '../../src/core/errors.ts';

const SOURCE: PlanSource = {
  dest: 'file:/mnt/b',
  session: '20260101-010101',
  listStdout: 'Wyng 0.8\n\n{"a": "ünï"}',
  metadataTgz: Buffer.from([0x1f, 0x8b, 0, 1, 2, 3, 0x0a, 255]),
};

function stateDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'wq-plan-cache-')), 'state');
}

function refusal(fn: () => unknown, kind: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof WqError && err.kind === kind && message.test(err.message));
}

test('kept and read back byte for byte; modes 0700/0600; the id is 32 hex digits', () => {
  const dir = stateDir();
  const id = keepPlan(dir, SOURCE);
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(statSync(planCacheDir(dir)).mode & 0o777, 0o700);
  assert.equal(statSync(join(planCacheDir(dir), `${id}.plan`)).mode & 0o777, 0o600);
  const r = readKeptPlan(dir, id);
  assert.ok(r.found);
  assert.deepEqual(r.source, SOURCE);
  assert.notEqual(keepPlan(dir, SOURCE), id, 'a new id per plan');
  rmSync(join(dir, '..'), { recursive: true });
});

test('an id that is not 32 lowercase hex digits is refused before anything is read', () => {
  const dir = stateDir(); // does not even exist: nothing is looked at
  for (const bad of ['', 'x'.repeat(32), 'A'.repeat(32), 'a'.repeat(31), 'a'.repeat(33), `../${'a'.repeat(29)}`]) {
    refusal(() => readKeptPlan(dir, bad), 'option', /--from-plan must be a plan id/);
  }
});

test('missing or expired: not found, with the reason; expired entries go when a new one is kept', () => {
  const dir = stateDir();
  assert.deepEqual(readKeptPlan(dir, 'a'.repeat(32)), { found: false, why: 'no plan is kept' });
  const now = Date.now();
  const old = keepPlan(dir, SOURCE, now - PLAN_TTL_MS - 5000);
  const r = readKeptPlan(dir, old, now);
  assert.equal(r.found, false);
  assert.match(!r.found ? r.why : '', /has expired/);
  // its file is old as well (mtime): the next keep removes it
  const path = join(planCacheDir(dir), `${old}.plan`);
  const past = new Date(now - PLAN_TTL_MS - 5000);
  utimesSync(path, past, past);
  const fresh = keepPlan(dir, SOURCE, now);
  assert.deepEqual(readdirSync(planCacheDir(dir)), [`${fresh}.plan`]);
  assert.deepEqual(readKeptPlan(dir, 'b'.repeat(32), now).found, false);
  rmSync(join(dir, '..'), { recursive: true });
});

test('at most MAX_ENTRIES are kept: the oldest go first', () => {
  const dir = stateDir();
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < MAX_ENTRIES + 3; i++) {
    ids.push(keepPlan(dir, SOURCE, now));
    const at = new Date(now - (MAX_ENTRIES + 3 - i) * 1000); // older first
    utimesSync(join(planCacheDir(dir), `${ids[i]}.plan`), at, at);
  }
  const left = readdirSync(planCacheDir(dir)).sort();
  assert.equal(left.length, MAX_ENTRIES);
  assert.deepEqual(
    left,
    ids
      .slice(3)
      .map((id) => `${id}.plan`)
      .sort(),
  );
  rmSync(join(dir, '..'), { recursive: true });
});

test('anything but a well-formed entry of ours is refused (input), not used', () => {
  const dir = stateDir();
  const id = keepPlan(dir, SOURCE);
  const path = join(planCacheDir(dir), `${id}.plan`);
  const good = readFileSync(path);
  for (const bytes of [
    Buffer.from('no header line'),
    Buffer.from('{"version":2}\n'),
    good.subarray(0, good.length - 1), // shorter than its header says
    Buffer.concat([good, Buffer.from('x')]), // longer
  ]) {
    writeFileSync(path, bytes);
    refusal(() => readKeptPlan(dir, id), 'input', /is unusable/);
  }
  // a list that is not UTF-8
  writeFileSync(path, encodePlanEntry({ ...SOURCE, listStdout: 'x' }, Date.now()));
  const raw = readFileSync(path);
  raw[raw.indexOf(0x0a) + 1] = 0xff;
  writeFileSync(path, raw);
  refusal(() => readKeptPlan(dir, id), 'input', /not UTF-8/);
  // a symlink in place of the entry
  rmSync(path);
  writeFileSync(join(dir, 'elsewhere'), good);
  symlinkSync(join(dir, 'elsewhere'), path);
  refusal(() => readKeptPlan(dir, id), 'input', /Cannot open the kept plan/);
  rmSync(join(dir, '..'), { recursive: true });
});

test('a cache dir open to others is refused for reading and keeping', () => {
  const dir = stateDir();
  const id = keepPlan(dir, SOURCE);
  chmodSync(planCacheDir(dir), 0o755);
  refusal(() => readKeptPlan(dir, id), 'config', /expected mode 0700/);
  refusal(() => keepPlan(dir, SOURCE), 'config', /expected mode 0700/);
  rmSync(join(dir, '..'), { recursive: true });
});

test('decodePlanEntry reads what encodePlanEntry wrote', () => {
  const at = 1_700_000_000_000;
  assert.deepEqual(decodePlanEntry(encodePlanEntry(SOURCE, at), 'x'), { source: SOURCE, createdAt: at });
});
