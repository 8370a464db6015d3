// Space pre-flight arithmetic (src/core/space.ts): per-target sums, the refusal message, what a
// restored and a backed-up volume count for, and which destinations are local.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backupNeed,
  compareSpace,
  localDestPath,
  renderSpace,
  restoreNeed,
  spaceRefusal,
  spaceWarning,
} from '../../src/core/space.ts';

const MiB = 1048576;

test('needs are summed per target and compared with each target free bytes', () => {
  const rows = compareSpace(
    [
      { target: 'vm-pool', bytes: 3 * MiB, measured: true },
      { target: 'varlibqubes', bytes: 1 * MiB, measured: true },
      { target: 'vm-pool', bytes: 2 * MiB, measured: true },
      { target: 'lvm', bytes: 7 * MiB, measured: true },
    ],
    new Map<string, number | undefined>([
      ['vm-pool', 4 * MiB],
      ['varlibqubes', 1 * MiB],
    ]),
  );
  assert.deepEqual(rows, [
    { target: 'lvm', needed: 7 * MiB, measured: 7 * MiB, free: null, short: false, refused: false },
    { target: 'varlibqubes', needed: 1 * MiB, measured: 1 * MiB, free: 1 * MiB, short: false, refused: false },
    { target: 'vm-pool', needed: 5 * MiB, measured: 5 * MiB, free: 4 * MiB, short: true, refused: true },
  ]);
  assert.equal(
    spaceRefusal('restore', rows),
    'Not enough space for the restore: vm-pool needs 5.0 MiB, has 4.0 MiB free. ' +
      'Nothing was written; use --force to go on anyway.',
  );
  assert.equal(spaceRefusal('restore', rows.slice(0, 2)), undefined, 'an unknown free size never refuses');
  assert.equal(spaceWarning('restore', rows), undefined, 'a refused target is not also a warning');
  assert.match(renderSpace('Space in the target pools', rows), /lvm: needs up to 7\.0 MiB, free space unknown\n/);
  assert.match(
    renderSpace('Space in the target pools', rows),
    /vm-pool: needs up to 5\.0 MiB, 4\.0 MiB free {2}— TOO SMALL$/,
  );
  assert.equal(renderSpace('x', []), '');
});

test('listed (logical) sizes only warn; the measured part alone decides a refusal', () => {
  const rows = compareSpace(
    [
      { target: 'vm-pool', bytes: 3 * MiB, measured: true },
      { target: 'vm-pool', bytes: 2048 * MiB, measured: false },
      { target: 'other', bytes: 9 * MiB, measured: true },
      { target: 'other', bytes: 1 * MiB, measured: false },
    ],
    new Map([
      ['vm-pool', 100 * MiB],
      ['other', 8 * MiB],
    ]),
  );
  assert.deepEqual(rows, [
    { target: 'other', needed: 10 * MiB, measured: 9 * MiB, free: 8 * MiB, short: true, refused: true },
    { target: 'vm-pool', needed: 2051 * MiB, measured: 3 * MiB, free: 100 * MiB, short: true, refused: false },
  ]);
  assert.equal(
    spaceRefusal('restore', rows),
    'Not enough space for the restore: other needs 9.0 MiB, has 8.0 MiB free. ' +
      'Nothing was written; use --force to go on anyway.',
  );
  assert.match(
    spaceWarning('restore', rows) ?? '',
    /^Warning: the restore may not fit: vm-pool needs up to 2051\.0 MiB, has 100\.0 MiB free\. These are/,
  );
  assert.match(
    renderSpace('Space in the target pools', rows),
    /vm-pool: needs up to 2051\.0 MiB \(3\.0 MiB of it recorded data, the rest listed sizes\), 100\.0 MiB free {2}— may be too small/,
  );
});

test('a restored volume needs its archived size, less what the volume it replaces holds', () => {
  assert.equal(restoreNeed(10 * MiB, undefined), 10 * MiB);
  assert.equal(restoreNeed(10 * MiB, 4 * MiB), 6 * MiB);
  assert.equal(restoreNeed(10 * MiB, 12 * MiB), 0);
});

test('a backup adds the usage of volumes new to the archive and the metadata tar', () => {
  const need = backupNeed({
    volumes: [
      { archive: 'appvms/work/private.img', usage: 5 * MiB },
      { archive: 'appvms/new/private.img', usage: 3 * MiB },
      { archive: 'vm-other-private', usage: undefined },
    ],
    archiveVolumes: new Set(['appvms/work/private.img']),
    metadataBytes: 1000,
  });
  assert.equal(need, 3 * MiB + 1000);
});

test('only absolute file: destinations are checked locally', () => {
  assert.equal(localDestPath('file:/mnt/backup/laptop'), '/mnt/backup/laptop');
  assert.equal(localDestPath('file:relative/x'), undefined);
  assert.equal(localDestPath('ssh://user@host/path'), undefined);
  assert.equal(localDestPath('qubes://vault/mnt/x'), undefined);
  assert.equal(localDestPath(undefined), undefined);
});
