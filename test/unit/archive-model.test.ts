import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArchiveModel, parseVolumeName, parseWyngListOutput } from '../../src/core/archive.ts';
import { WqError } from '../../src/core/errors.ts';
import { checkPruneSession, selectSession, volumesOfQubes, volumesInSession } from '../../src/core/selection.ts';
import { listResult } from '../../src/core/list.ts';
import { wyngTranscriptsDir } from '../helpers/test-data.ts';

const TRANSCRIPTS = wyngTranscriptsDir();
const stdoutOf = (name: string): string =>
  (JSON.parse(readFileSync(join(TRANSCRIPTS, `${name}.json`), 'utf8')) as { stdout: string }).stdout;

test('parses the real `--json list` output after its banner lines', () => {
  const list = parseWyngListOutput(stdoutOf('u06-list-after-s2'));
  assert.equal(list.wversion, '0.8 rc4');
  assert.equal(list.encrypted, false);
  const model = buildArchiveModel(list);
  assert.deepEqual(model.qubesSessions, ['20261123-034659', '20261123-034701']);
  assert.deepEqual(model.sessionQubes['20261123-034701'], ['debian-12', 'personal', 'work']);
  assert.deepEqual(model.sessionTags['20261123-034701'], { nightly: 'Nightly backup two', qubes: '' });
  assert.deepEqual(model.qubeSessions['debian-12']?.['20261123-034701'], {
    all: ['vm-templates/debian-12/private.img', 'vm-templates/debian-12/root.img'],
    private: 'vm-templates/debian-12/private.img',
    root: 'vm-templates/debian-12/root.img',
  });
  assert.equal(model.volumeQube['appvms/work/private.img'], 'work');
  // updated_at is float seconds; a Date keeps whole milliseconds
  assert.equal(model.updatedAt, new Date(1795405621431).toISOString());
});

test('an empty archive and volumes without sessions build an empty model', () => {
  const model = buildArchiveModel(parseWyngListOutput(stdoutOf('u02-list-empty')));
  assert.deepEqual(model.qubesSessions, []);
  const afterSigint = buildArchiveModel(parseWyngListOutput(stdoutOf('i03-list-after-sigint')));
  assert.deepEqual(afterSigint.volumeSessions['appvms/work/private.img'], []);
});

test('list result: every qube with its sessions and newest, sessions oldest first', () => {
  const model = buildArchiveModel(parseWyngListOutput(stdoutOf('u06-list-after-s2')));
  const r = listResult(model, undefined);
  // sizes: Wyng's volsize (bytes) of the qube's volumes per session; a session's total includes every volume
  assert.deepEqual(r.qubes.work, {
    sessions: ['20261123-034659', '20261123-034701'],
    newest: '20261123-034701',
    bytes: 64 * 1048576,
    sessionBytes: { '20261123-034659': 64 * 1048576, '20261123-034701': 64 * 1048576 },
  });
  assert.equal(r.qubes['debian-12']!.bytes, 96 * 1048576);
  assert.deepEqual(
    r.sessions.map((s) => s.bytes),
    [(64 + 32 + 64 + 32) * 1048576 + 331, (64 + 32 + 64 + 32) * 1048576 + 341],
  );
  assert.deepEqual(
    r.sessions.map((s) => s.id),
    ['20261123-034659', '20261123-034701'],
  );
  assert.deepEqual(Object.keys(listResult(model, ['work']).qubes), ['work']);
});

test('volume names of both pool formats map to qubes; others do not', () => {
  assert.deepEqual(parseVolumeName('vm-work-private'), { qube: 'work', kind: 'private', format: 'lvm' });
  assert.deepEqual(parseVolumeName('vm-my-qube-root'), { qube: 'my-qube', kind: 'root', format: 'lvm' });
  assert.deepEqual(parseVolumeName('appvms/work/private.img'), { qube: 'work', kind: 'private', format: 'reflink' });
  assert.deepEqual(parseVolumeName('vm-templates/fedora-41/root.img'), {
    qube: 'fedora-41',
    kind: 'root',
    format: 'reflink',
  });
  for (const other of [
    'wyng-qubes-metadata',
    'appvms/work/volatile.img',
    'vm-work-volatile',
    'appvms/a/b/private.img',
    'vm-1bad-private',
  ]) {
    assert.equal(parseVolumeName(other), undefined, other);
  }
});

test('malformed list output gives a clear input error, never a crash', () => {
  const good = stdoutOf('u06-list-after-s2');
  const bad = [
    good.slice(0, good.length - 40), // truncated
    `${good}\nextra line`, // trailing garbage
    good.replace('"volsize": 67108864', '"volsize": "big"'), // wrong type
    good.replace('"S_20261123-034659"', '"S_bogus"'), // bad session key
    'Wyng 0.8 rc4 release 20251028\nno json here\n',
    '',
  ];
  for (const text of bad) {
    assert.throws(
      () => parseWyngListOutput(text),
      (e: unknown) => e instanceof WqError && e.kind === 'input',
      text.slice(-60),
    );
  }
});

test('refuses Wyng older than 0.8 release 20250820', () => {
  const good = stdoutOf('u06-list-after-s2');
  for (const [v, d] of [
    ['0.4 beta', '20251028'],
    ['0.8 rc4', '20250526'],
  ]) {
    const text = good
      .replace('"wversion": "0.8 rc4"', `"wversion": "${v}"`)
      .replace('"wdate": "20251028"', `"wdate": "${d}"`);
    assert.throws(() => parseWyngListOutput(text), /Wyng v0\.8 release 20250820 or later is required/);
  }
});

test('session selection: explicit, newest of the named qubes, ambiguous', () => {
  const model = buildArchiveModel(parseWyngListOutput(stdoutOf('u06-list-after-s2')));
  assert.equal(selectSession(model, ['work'], undefined, 'restore'), '20261123-034701');
  assert.equal(selectSession(model, [], '20261123-034659', 'restore'), '20261123-034659');
  assert.throws(() => selectSession(model, [], '20000101-000000', 'restore'), /No sessions match/);
  assert.throws(() => selectSession(model, [], undefined, 'restore'), /--session or qube names/);
  // make `personal` older only: drop it from the newest session
  const m2 = structuredClone(model);
  delete m2.qubeSessions.personal!['20261123-034701'];
  assert.throws(
    () => selectSession(m2, ['work', 'personal'], undefined, 'restore'),
    (e: unknown) => e instanceof WqError && e.kind === 'selection' && /Ambiguous VM session selection/.test(e.message),
  );
  assert.deepEqual(volumesInSession(model, ['work'], '20261123-034701'), ['appvms/work/private.img']);
  assert.deepEqual(volumesOfQubes(model, ['debian-12']), [
    'vm-templates/debian-12/private.img',
    'vm-templates/debian-12/root.img',
  ]);
});

test('prune of a session that is not in the archive is refused before Wyng runs', () => {
  const model = buildArchiveModel(parseWyngListOutput(stdoutOf('u06-list-after-s2')));
  assert.doesNotThrow(() => checkPruneSession(model, '20261123-034659', undefined));
  assert.doesNotThrow(() => checkPruneSession(model, '20261123-000000,20261123-034700', ['appvms/work/private.img']));
  assert.throws(() => checkPruneSession(model, '20000101-000000', undefined), /No sessions match/);
  assert.throws(() => checkPruneSession(model, '20000101-000000,20000102-000000', undefined), /No sessions match/);
});
