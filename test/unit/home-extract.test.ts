// The dom0 home extractor against hostile archives (src/adapters/home/extract.ts): links,
// devices, FIFOs, absolute paths and `..` refuse the archive and nothing lands outside the new
// directory; modes lose setuid/setgid; files are owned by the given user; the size cap holds;
// an existing target directory is never written into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractHomeTar } from '../../src/adapters/home/extract.ts';
import { DEFAULT_HOME_LIMITS } from '../../src/core/dom0-home.ts';
import { makeTgz, type TarEntrySpec } from '../helpers/tarball.ts';

const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wq-home-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

async function extract(dir: string, entries: TarEntrySpec[], limits = DEFAULT_HOME_LIMITS) {
  const tgz = join(dir, 'home.tgz');
  writeFileSync(tgz, makeTgz(entries));
  return extractHomeTar(tgz, join(dir, 'out'), owner, limits);
}

test('regular files and directories are extracted, owned by the user, without setuid bits', () =>
  withDir(async (dir) => {
    const r = await extract(dir, [
      { name: 'docs/', type: '5' },
      { name: 'docs/a.txt', data: 'hello' },
      { name: './.bashrc', data: 'export X=1\n' },
    ]);
    assert.deepEqual(r, { files: 2, bytes: 16 });
    assert.equal(readFileSync(join(dir, 'out', 'docs', 'a.txt'), 'utf8'), 'hello');
    assert.equal(readFileSync(join(dir, 'out', '.bashrc'), 'utf8'), 'export X=1\n');
    const st = lstatSync(join(dir, 'out', 'docs', 'a.txt'));
    assert.equal(st.uid, owner.uid);
    assert.equal(st.mode & 0o7000, 0);
    assert.equal(lstatSync(join(dir, 'out')).mode & 0o777, 0o700);
  }));

for (const [what, entry, message] of [
  ['a symlink', { name: 'link', type: '2', linkname: '/etc/passwd' }, /SymbolicLink/],
  ['a hard link', { name: 'hard', type: '1', linkname: '/etc/shadow' }, /Link/],
  ['a device', { name: 'dev', type: '3' }, /CharacterDevice/],
  ['a FIFO', { name: 'fifo', type: '6' }, /FIFO/],
  ['an absolute path', { name: '/tmp/escape', data: 'x' }, /absolute path|\.\./],
  ['a path with ..', { name: '../escape', data: 'x' }, /\.\./],
] as const) {
  test(`${what} refuses the archive; nothing outside the new directory`, () =>
    withDir(async (dir) => {
      await assert.rejects(
        extract(dir, [{ name: 'ok.txt', data: 'fine' }, entry as TarEntrySpec]),
        (err: Error) => /Refusing the dom0 home archive/.test(err.message) && message.test(err.message),
      );
      assert.deepEqual(readdirSync(dir).sort(), ['home.tgz', 'out']);
      assert.ok(!existsSync(join(dir, 'escape')));
      assert.ok(!readdirSync(join(dir, 'out')).some((n) => n !== 'ok.txt'));
    }));
}

test('the total size cap refuses the archive', () =>
  withDir(async (dir) => {
    await assert.rejects(
      extract(dir, [{ name: 'big', data: Buffer.alloc(4096, 1) }], { ...DEFAULT_HOME_LIMITS, maxTotalBytes: 1000 }),
      /larger than 1000 bytes/,
    );
  }));

test('an existing target directory is never written into', () =>
  withDir(async (dir) => {
    mkdirSync(join(dir, 'out'));
    await assert.rejects(extract(dir, [{ name: 'a', data: 'x' }]), /EEXIST/);
    assert.deepEqual(readdirSync(join(dir, 'out')), []);
  }));
