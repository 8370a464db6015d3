// adapters/fs/atomic.ts: the one atomic file replacement (notes.txt, reports, schedule drop-ins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/adapters/fs/atomic.ts';

test('replaces the file with the given mode and leaves no temp file; a stale temp file is no obstacle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-atomic-'));
  try {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'old');
    writeFileSync(`${path}.wyng-qubes-${process.pid}.tmp`, 'stale from a killed run');
    writeFileAtomic(path, 'new text', { mode: 0o640 });
    assert.equal(readFileSync(path, 'utf8'), 'new text');
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed replacement leaves what was there and removes its temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-atomic-'));
  try {
    // a directory in the file's place: the rename fails (for root too)
    const path = join(dir, 'schedule.conf');
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), 'x');
    assert.throws(() => writeFileAtomic(path, 'new', { mode: 0o644 }), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(dir), ['schedule.conf']);
    assert.deepEqual(readdirSync(path), ['keep']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
