import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { readMetadataTar, DEFAULT_METADATA_LIMITS } from '../../src/adapters/metadata/safe-tar.ts';
import { WqError } from '../../src/core/errors.ts';
import { makeTgz, makeTar } from '../helpers/tarball.ts';

const QUBES_XML = '<qubes><domains/></qubes>';

test('reads regular *.xml and notes.txt files with their exact bytes', () => {
  const files = readMetadataTar(
    makeTgz([
      { name: './', type: '5' },
      { name: './qubes.xml', data: QUBES_XML },
      { name: './appvms/work/firewall.xml', data: '<firewall/>' },
      { name: './appvms/work/notes.txt', data: 'my notes\n' },
    ]),
  );
  assert.deepEqual([...files.keys()].sort(), ['appvms/work/firewall.xml', 'appvms/work/notes.txt', 'qubes.xml']);
  assert.equal(files.get('appvms/work/notes.txt')?.toString(), 'my notes\n');
  assert.equal(files.get('qubes.xml')?.toString(), QUBES_XML);
});

const hostile: Array<[string, Parameters<typeof makeTgz>[0], RegExp]> = [
  ['path traversal', [{ name: '../etc/passwd.xml', data: 'x' }], /'\.\.'/],
  ['nested traversal', [{ name: 'appvms/../../x.xml', data: 'x' }], /'\.\.'/],
  ['absolute path', [{ name: '/etc/qubes.xml', data: 'x' }], /absolute/],
  ['symlink', [{ name: 'appvms/work/notes.txt', type: '2', linkname: '/etc/shadow' }], /SymbolicLink/],
  ['hardlink', [{ name: 'appvms/work/notes.txt', type: '1', linkname: 'qubes.xml' }], /Link/],
  ['char device', [{ name: 'dev.xml', type: '3' }], /CharacterDevice/],
  ['block device', [{ name: 'blk.xml', type: '4' }], /BlockDevice/],
  ['fifo', [{ name: 'fifo.xml', type: '6' }], /FIFO/],
  ['unexpected file type', [{ name: 'appvms/work/private.img', data: 'x' }], /unexpected file/],
  ['shell metacharacters', [{ name: 'appvms/w;rm -rf/notes.txt', data: 'x' }], /characters outside/],
  ['control characters', [{ name: 'a\nb.xml', data: 'x' }], /clean UTF-8/],
  [
    'non-UTF-8 name',
    [{ name: '', rawName: Buffer.from([0x61, 0xff, 0xfe, 0x2e, 0x78, 0x6d, 0x6c]), data: 'x' }],
    /clean UTF-8/,
  ],
  ['deep nesting', [{ name: 'a/b/c/d/e/f/g/h/i/j/qubes.xml', data: 'x' }], /deeper/],
  [
    'duplicate entry',
    [
      { name: 'qubes.xml', data: 'a' },
      { name: './qubes.xml', data: 'b' },
    ],
    /duplicate/,
  ],
  ['no qubes.xml', [{ name: 'appvms/work/firewall.xml', data: 'x' }], /no qubes\.xml/],
];

for (const [label, entries, why] of hostile) {
  test(`refuses a metadata archive with ${label}`, () => {
    assert.throws(
      () =>
        readMetadataTar(
          makeTgz([{ name: 'qubes.xml', data: QUBES_XML }, ...entries].slice(label === 'no qubes.xml' ? 1 : 0)),
        ),
      (err: unknown) => err instanceof WqError && err.kind === 'input' && why.test(err.message),
    );
  });
}

test('refuses a file whose declared size is above the cap without reading it', () => {
  // Header claims 2 GiB: the data is never there, the size check fires first.
  const tgz = gzipSync(
    makeTar([
      { name: 'qubes.xml', data: QUBES_XML },
      { name: 'huge.xml', size: 2 * 1024 ** 3 },
    ]),
  );
  assert.throws(
    () => readMetadataTar(tgz),
    (err: unknown) => err instanceof WqError && /larger than/.test(err.message),
  );
});

test('refuses too many entries and too much content in total', () => {
  const many = Array.from({ length: 30 }, (_, i) => ({ name: `d/f${i}.xml`, data: 'x' }));
  const limits = { ...DEFAULT_METADATA_LIMITS, maxFiles: 10 };
  assert.throws(
    () => readMetadataTar(makeTgz([{ name: 'qubes.xml', data: QUBES_XML }, ...many]), limits),
    /more than 10 entries/,
  );
  const big = { ...DEFAULT_METADATA_LIMITS, maxTotalBytes: 100 };
  assert.throws(
    () =>
      readMetadataTar(
        makeTgz([
          { name: 'qubes.xml', data: 'y'.repeat(80) },
          { name: 'b.xml', data: 'z'.repeat(80) },
        ]),
        big,
      ),
    /in total/,
  );
});

test('refuses data that is not gzip, or a damaged tar', () => {
  assert.throws(() => readMetadataTar(Buffer.from('plain text')), /gzip/);
  const tar = makeTar([{ name: 'qubes.xml', data: QUBES_XML }]);
  tar[148] = 0x39; // break the header checksum
  assert.throws(
    () => readMetadataTar(gzipSync(tar)),
    (err: unknown) => err instanceof WqError && err.kind === 'input',
  );
});
