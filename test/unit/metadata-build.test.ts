// The metadata tar while qubesd writes: qubesd saves qubes.xml as a temp file `qubes.xmlXXXXXXXX`
// in the same directory, then renames it over qubes.xml (qubes/app.py save()). A backup that
// builds its tar meanwhile must neither fail nor store a torn qubes.xml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
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
import { buildMetadataTar, readRegularFile } from '../../src/adapters/metadata/build.ts';

/** qubes.xml of generation n: its size differs from generation to generation. */
const generation = (n: number): string => `<qubes gen="${n}">${'<domain/>'.repeat(2000 + (n % 7) * 1500)}</qubes>\n`;

test('metadata tar built while qubesd keeps saving qubes.xml: never fails, never a torn file', async () => {
  const root = mkdtempSync(join(tmpdir(), 'wq-meta-race-'));
  const q = join(root, 'qubes');
  mkdirSync(join(q, 'appvms', 'work'), { recursive: true });
  writeFileSync(join(q, 'qubes.xml'), generation(0));
  writeFileSync(join(q, 'appvms', 'work', 'notes.txt'), 'notes\n');
  const saver = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('fs'), path = require('path'), d = ${JSON.stringify(q)};
       const gen = ${generation.toString()};
       for (let i = 1; ; i++) {
         const t = path.join(d, 'qubes.xml' + Math.random().toString(36).slice(2, 10));
         fs.writeFileSync(t, gen(i));
         fs.renameSync(t, path.join(d, 'qubes.xml'));
       }`,
    ],
    { stdio: 'ignore' },
  );
  const failures: string[] = [];
  try {
    for (let i = 0; i < 400; i += 1) {
      const tar = join(root, `meta-${i}.tgz`);
      try {
        const files = await buildMetadataTar(q, tar);
        assert.deepEqual(files, ['appvms/work/notes.txt', 'qubes.xml']);
        const xml = execFileSync('tar', ['-xzOf', tar, './qubes.xml'], { encoding: 'utf8', maxBuffer: 1 << 26 });
        const n = Number(/^<qubes gen="(\d+)">/.exec(xml)?.[1]);
        assert.equal(xml, generation(n), `build ${i}: qubes.xml is one whole generation (${xml.length} bytes)`);
      } catch (err) {
        failures.push(`build ${i}: ${(err as Error).message.slice(0, 200)}`);
      }
      rmSync(tar, { force: true });
    }
  } finally {
    saver.kill();
    rmSync(root, { recursive: true, force: true });
  }
  assert.deepEqual(failures, []);
});

test(
  'readRegularFile: contents and stat of a regular file; a FIFO, a symlink, a directory or a ' +
    'vanished path give undefined (never blocks)',
  () => {
    const d = mkdtempSync(join(tmpdir(), 'wq-meta-read-'));
    try {
      writeFileSync(join(d, 'a.xml'), '<a/>', { mode: 0o640 });
      execFileSync('mkfifo', [join(d, 'p.xml')]);
      symlinkSync(join(d, 'a.xml'), join(d, 'l.xml'));
      mkdirSync(join(d, 'dir.xml'));
      const got = readRegularFile(join(d, 'a.xml'));
      assert.equal(got?.data.toString(), '<a/>');
      assert.equal((got!.mode & 0o777).toString(8), '640');
      for (const n of ['p.xml', 'l.xml', 'dir.xml', 'gone.xml'])
        assert.equal(readRegularFile(join(d, n)), undefined, n);
      assert.equal(readFileSync(join(d, 'a.xml'), 'utf8'), '<a/>');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
);

test(
  "the tar keeps each file's mode (portable: group/other write dropped) and modification " +
    'time, not those of the private copy',
  async () => {
    const d = mkdtempSync(join(tmpdir(), 'wq-meta-mode-'));
    try {
      mkdirSync(join(d, 'q'));
      writeFileSync(join(d, 'q', 'qubes.xml'), '<qubes/>');
      chmodSync(join(d, 'q', 'qubes.xml'), 0o640);
      utimesSync(join(d, 'q', 'qubes.xml'), new Date('2020-02-03T04:05:06Z'), new Date('2020-02-03T04:05:06Z'));
      await buildMetadataTar(join(d, 'q'), join(d, 'm.tgz'));
      const line = execFileSync('tar', ['-tvzf', join(d, 'm.tgz'), '--utc'], { encoding: 'utf8' }).trim();
      assert.match(line, /^-rw-r----- .* 2020-02-03 04:05 \.\/qubes\.xml$/);
      assert.deepEqual(readdirSync(d).sort(), ['m.tgz', 'q'], 'the private copies are gone');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
);
