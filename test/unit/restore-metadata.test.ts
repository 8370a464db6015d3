// The metadata reader's edges found by the restore end-to-end tests: entries node-tar skips
// silently (GNU sparse files, tape headers, unknown type flags) must refuse the archive, a
// decompression bomb gets a clear message, and a huge saved metadata volume is refused by its
// size before it is read into memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchSessionMetadata } from '../../src/adapters/metadata/fetch.ts';
import type { ArchiveModel } from '../../src/core/archive.ts';
import { readMetadataTar } from '../../src/adapters/metadata/safe-tar.ts';
import { WqError } from '../../src/core/errors.ts';
import type { WyngProcessResult } from '../../src/adapters/wyng/process.ts';
import { makeTar, makeTgz } from '../helpers/tarball.ts';

const QX = { name: 'qubes.xml', data: '<qubes/>' };

for (const [flag, kind] of [
  ['S', 'SparseFile'],
  ['V', 'TapeVolumeHeader'],
  ['M', 'ContinuationFile'],
  ['A', 'SolarisACL'],
  ['I', 'Inode'],
  ['Z', 'Unsupported'],
] as const) {
  test(`an entry of type '${flag}' (${kind}), which node-tar would skip silently, refuses the archive`, () => {
    assert.throws(
      () =>
        readMetadataTar(makeTgz([QX, { name: 'appvms/work/notes.txt', type: flag, data: Buffer.alloc(512, 0x41) }])),
      (err: unknown) =>
        err instanceof WqError &&
        err.kind === 'input' &&
        err.message === `Refusing backup metadata: entry 'appvms/work/notes.txt' is a ${kind}, not a regular file`,
    );
  });
}

test('a 2 GiB GNU sparse file header refuses the archive by its type', () => {
  assert.throws(
    () => readMetadataTar(makeTgz([QX, { name: 'appvms/work/notes.txt', type: 'S', size: 2 * 1024 ** 3 }])),
    /is a SparseFile, not a regular file/,
  );
});

test('a pax header too large for node-tar (ignored by it) refuses the archive', () => {
  const huge = `path=${'a'.repeat(2 * 1024 * 1024)}`;
  assert.throws(
    () =>
      readMetadataTar(
        makeTgz([
          QX,
          { name: 'PaxHeader', type: 'x', data: `${huge.length + 9} ${huge}\n` },
          { name: 'b.xml', data: '<x/>' },
        ]),
      ),
    /ExtendedHeader, not a regular file/,
  );
});

test('a decompression bomb is refused with a message that says so', () => {
  const bomb = gzipSync(makeTar([{ name: 'qubes.xml', data: Buffer.alloc(200 * 1024 * 1024) }]), { level: 1 });
  assert.ok(bomb.length < 1024 * 1024);
  assert.throws(
    () => readMetadataTar(bomb),
    (err: unknown) =>
      err instanceof WqError && /^Refusing backup metadata: it uncompresses to more than \d+ bytes$/.test(err.message),
  );
});

/** A Wyng whose last listing showed the metadata volume of 20260101-000000 as `listed` bytes. */
function stubWyng(
  write: (path: string) => void,
  listed = 4096,
  calls: Array<{ argv: string[]; limits: unknown }> = [],
): Parameters<typeof fetchSessionMetadata>[0] {
  return {
    globals: { unattended: true, wyngopt: [] },
    lastModel: {
      volumeSizes: { 'wyng-qubes-metadata': { '20260101-000000': listed } },
      metadataIdentity: {},
    } as unknown as ArchiveModel,
    list: () => Promise.reject(new Error('not listed again')),
    check: async (argv: string[], options: { maxFileBytes?: number | undefined }): Promise<WyngProcessResult> => {
      calls.push({ argv, limits: { maxFileBytes: options.maxFileBytes } });
      const saveTo = argv.find((a) => a.startsWith('--save-to='))!.slice('--save-to='.length);
      write(saveTo);
      return { argv, exitCode: 0, signal: undefined, stdout: '', stderr: '', durationMs: 0, spawnError: undefined };
    },
  };
}

test('a metadata volume the listing shows larger than the cap is refused before anything is received', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-meta-'));
  try {
    const calls: Array<{ argv: string[]; limits: unknown }> = [];
    const wyng = stubWyng(() => undefined, 300 * 1024 * 1024, calls);
    await assert.rejects(fetchSessionMetadata(wyng, dir, '20260101-000000'), (err: unknown) => {
      assert.ok(err instanceof WqError);
      assert.equal(err.kind, 'input');
      assert.match(err.message, /lists it as 314572800 bytes, more than 67108864; nothing was received/);
      return true;
    });
    assert.equal(calls.length, 0, 'no receive');
    // a session without a metadata volume in the listing
    await assert.rejects(fetchSessionMetadata(wyng, dir, '20260202-000000'), /holds no wyng-qubes-metadata/);
    // a normal one is received with the file-size bound at the cap
    await fetchSessionMetadata(
      stubWyng((p) => writeFileSync(p, makeTgz([QX])), 4096, calls),
      dir,
      '20260101-000000',
    );
    assert.deepEqual(calls[0]!.limits, { maxFileBytes: 64 * 1024 * 1024 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a saved metadata volume larger than the cap is refused by its size, not read, and removed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-meta-'));
  try {
    // 3 GiB sparse: readFileSync would fail (or fill memory) on it
    const wyng = stubWyng((p) => {
      writeFileSync(p, '');
      truncateSync(p, 3 * 1024 ** 3);
    });
    await assert.rejects(fetchSessionMetadata(wyng, dir, '20260101-000000'), (err: unknown) => {
      assert.ok(err instanceof WqError);
      assert.equal(err.kind, 'input');
      assert.match(err.message, /^Refusing backup metadata: archive larger than 67108864 bytes \(3221225472\)\.$/);
      return true;
    });
    assert.deepEqual((await import('node:fs')).readdirSync(dir), [], 'the saved volume is removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a metadata volume Wyng did not save is a Wyng error; a valid one is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-meta-'));
  try {
    await assert.rejects(
      fetchSessionMetadata(
        stubWyng(() => undefined),
        dir,
        '20260101-000000',
      ),
      (err: unknown) => err instanceof WqError && err.kind === 'wyng',
    );
    const files = await fetchSessionMetadata(
      stubWyng((p) => writeFileSync(p, makeTgz([QX]))),
      dir,
      '20260101-000000',
    );
    assert.deepEqual([...files.keys()], ['qubes.xml']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
