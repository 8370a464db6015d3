// dom0's copies of session metadata (adapters/metadata-cache.ts, issue 17): a session already
// sent or received is read from the copy without a Wyng process; the copy is keyed by the
// session's identity in the listing, checked against its header, and read through the same
// safe reader as a receive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchSessionMetadataWithDigest } from '../../src/adapters/metadata/fetch.ts';
import { MAX_CACHED_SESSIONS, METADATA_CACHE_DIR, metadataCache } from '../../src/adapters/metadata-cache.ts';
import type { WyngProcessResult } from '../../src/adapters/wyng/process.ts';
import { buildArchiveModel, parseWyngListOutput, type ArchiveModel } from '../../src/core/archive.ts';
import { makeTgz } from '../helpers/tarball.ts';

const SESSION = '20260101-000000';

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-metacache-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const entries = (stateDir: string): string[] => readdirSync(join(stateDir, METADATA_CACHE_DIR)).sort();

test(
  'a kept copy comes back for its identity only; a changed or misplaced file is dropped',
  withDir((state) => {
    const cache = metadataCache(state);
    const tgz = makeTgz([{ name: 'qubes.xml', data: '<qubes/>' }]);
    assert.equal(cache.get('a'), undefined, 'nothing kept yet');
    cache.put('a', tgz);
    assert.deepEqual(cache.get('a'), tgz);
    assert.equal(cache.get('b'), undefined);
    const [file] = entries(state);
    assert.match(file!, /^[0-9a-f]{64}\.tgz$/);
    const path = join(state, METADATA_CACHE_DIR, file!);
    assert.equal(readFileSync(path).length > tgz.length, true);

    // one byte of the tarball changed: the header's sha256 no longer matches, the file goes
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(path, bytes);
    assert.equal(cache.get('a'), undefined);
    assert.deepEqual(entries(state), []);

    // a copy of identity b's file under a's name: its header names b, so it is not a's
    cache.put('b', tgz);
    const [bFile] = entries(state);
    cache.put('a', tgz);
    const aFile = entries(state).find((f) => f !== bFile)!;
    writeFileSync(join(state, METADATA_CACHE_DIR, aFile), readFileSync(join(state, METADATA_CACHE_DIR, bFile!)));
    assert.equal(cache.get('a'), undefined);
    assert.deepEqual(cache.get('b'), tgz);
  }),
);

test(
  'a symlink, or a cache dir open to others, is never read; the oldest beyond the bound go',
  withDir((state) => {
    const cache = metadataCache(state);
    const tgz = makeTgz([{ name: 'qubes.xml', data: '<qubes/>' }]);
    cache.put('a', tgz);
    const [file] = entries(state);
    const dir = join(state, METADATA_CACHE_DIR);
    const elsewhere = join(state, 'elsewhere');
    writeFileSync(elsewhere, readFileSync(join(dir, file!)));
    rmSync(join(dir, file!));
    symlinkSync(elsewhere, join(dir, file!));
    assert.equal(cache.get('a'), undefined, 'a symlink is not followed');
    rmSync(join(dir, file!));

    cache.put('a', tgz);
    chmodSync(dir, 0o755);
    assert.equal(cache.get('a'), undefined, 'a dir open to others is not used');
    cache.put('c', tgz);
    assert.equal(entries(state).length, 1, 'nor written to');
    chmodSync(dir, 0o700);
    assert.deepEqual(cache.get('a'), tgz);

    // the bound: the least recently used go first
    rmSync(dir, { recursive: true });
    mkdirSync(dir, { mode: 0o700 });
    const old = new Date(Date.now() - 3_600_000);
    for (let i = 0; i < MAX_CACHED_SESSIONS; i++) {
      cache.put(`s${i}`, tgz);
      for (const f of entries(state)) utimesSync(join(dir, f), old, old);
    }
    assert.deepEqual(cache.get('s0'), tgz); // used: now the newest
    cache.put('new', tgz);
    assert.equal(entries(state).length, MAX_CACHED_SESSIONS);
    assert.deepEqual(cache.get('s0'), tgz);
    assert.deepEqual(cache.get('new'), tgz);
    const gone = Array.from({ length: MAX_CACHED_SESSIONS }, (_, i) => `s${i}`).filter(
      (s) => cache.get(s) === undefined,
    );
    assert.equal(gone.length, 1, 'exactly one old session went');
  }),
);

/** A listing of one archive: the metadata volume of SESSION with this timestamp and size. */
function listing(uuid: string | undefined, ts: number, volsize: number): string {
  return JSON.stringify({
    wversion: '0.8 rc4',
    wdate: '20251028',
    ...(uuid !== undefined ? { uuid } : {}),
    updated_at: '1795405636.38',
    url: 'file:/a',
    volumes: {
      'wyng-qubes-metadata': {
        vid: 'Vol_1',
        desc: '',
        last: `S_${SESSION}`,
        ts,
        sessions: { [`S_${SESSION}`]: { volsize, sequence: 0, ts, chg: true, tags: { qubes: '' } } },
      },
    },
  });
}
const modelOf = (uuid: string | undefined, ts: number, volsize: number): ArchiveModel =>
  buildArchiveModel(parseWyngListOutput(listing(uuid, ts, volsize)));

test('the identity of a session: the archive uuid, the volume, the session and its timestamp and size', () => {
  const base = modelOf('u-1', 100, 512).metadataIdentity[SESSION];
  assert.equal(typeof base, 'string');
  assert.equal(modelOf('u-1', 100, 512).metadataIdentity[SESSION], base);
  assert.notEqual(modelOf('u-2', 100, 512).metadataIdentity[SESSION], base, 'another archive');
  assert.notEqual(modelOf('u-1', 101, 512).metadataIdentity[SESSION], base, 'another timestamp');
  assert.notEqual(modelOf('u-1', 100, 1024).metadataIdentity[SESSION], base, 'another size');
  assert.deepEqual(modelOf(undefined, 100, 512).metadataIdentity, {}, 'no uuid: nothing is cached');
});

/** A Wyng whose receive writes `tgz`; counts its processes. */
function stubWyng(
  model: ArchiveModel,
  tgz: Buffer,
  calls: string[][],
): Parameters<typeof fetchSessionMetadataWithDigest>[0] {
  return {
    globals: { unattended: true, wyngopt: [] },
    lastModel: model,
    list: () => Promise.reject(new Error('not listed again')),
    check: async (argv: string[]): Promise<WyngProcessResult> => {
      calls.push(argv);
      writeFileSync(argv.find((a) => a.startsWith('--save-to='))!.slice('--save-to='.length), tgz);
      return { argv, exitCode: 0, signal: undefined, stdout: '', stderr: '', durationMs: 0, spawnError: undefined };
    },
  };
}

test(
  'fetch: received once, then read from the copy without Wyng; a copy the reader refuses is received again',
  withDir(async (dir) => {
    const tgz = makeTgz([{ name: 'qubes.xml', data: '<qubes/>' }]);
    const model = modelOf('u-1', 100, tgz.length);
    const cache = metadataCache(join(dir, 'state'));
    const calls: string[][] = [];
    const first = await fetchSessionMetadataWithDigest(stubWyng(model, tgz, calls), dir, SESSION, undefined, cache);
    assert.equal(calls.length, 1);
    const second = await fetchSessionMetadataWithDigest(stubWyng(model, tgz, calls), dir, SESSION, undefined, cache);
    assert.equal(calls.length, 1, 'no second Wyng process');
    assert.equal(second.sha256, first.sha256);
    assert.deepEqual(second.files, first.files);

    // without a cache, or for another archive (uuid), Wyng receives
    await fetchSessionMetadataWithDigest(stubWyng(model, tgz, calls), dir, SESSION);
    await fetchSessionMetadataWithDigest(
      stubWyng(modelOf('u-2', 100, tgz.length), tgz, calls),
      dir,
      SESSION,
      undefined,
      cache,
    );
    assert.equal(calls.length, 3);

    // a kept copy that is not a readable tarball (kept with a valid header): received again
    const garbage = Buffer.alloc(tgz.length, 0x41);
    const model3 = modelOf('u-3', 100, tgz.length);
    cache.put(model3.metadataIdentity[SESSION]!, garbage);
    const third = await fetchSessionMetadataWithDigest(stubWyng(model3, tgz, calls), dir, SESSION, undefined, cache);
    assert.equal(calls.length, 4);
    assert.equal(third.sha256, first.sha256);
    assert.deepEqual(cache.get(model3.metadataIdentity[SESSION]!), tgz, 'replaced by what was received');
  }),
);
