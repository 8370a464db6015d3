// The session's volume record (src/core/volume-record.ts): written by backup, read by the restore's
// space pre-flight; archive content, so every malformed record is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVolumeRecord, renderVolumeRecord } from '../../src/core/volume-record.ts';
import { WqError } from '../../src/core/errors.ts';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

test('a rendered record reads back (sorted, exact bytes)', () => {
  const text = renderVolumeRecord([
    { archive: 'vm-templates/debian-12/root.img', usage: 5_000_000_000 },
    { archive: 'appvms/work/private.img', usage: 16 * 1048576 },
  ]);
  assert.ok(text.indexOf('appvms/work') < text.indexOf('vm-templates/debian-12'), text);
  assert.deepEqual(
    [...parseVolumeRecord(enc(text), 'rec')],
    [
      ['appvms/work/private.img', 16 * 1048576],
      ['vm-templates/debian-12/root.img', 5_000_000_000],
    ],
  );
  assert.deepEqual([...parseVolumeRecord(enc(renderVolumeRecord([])), 'rec')], []);
});

test('malformed records are refused with a clear input error', () => {
  const wrap = (body: string, version = '1'): Buffer =>
    enc(`<?xml version="1.0"?>\n<wyng-qubes-volumes version="${version}">${body}</wyng-qubes-volumes>`);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['negative usage', wrap('<volume name="appvms/w/private.img" usage="-1"/>'), /is not <volume/],
    ['non-number', wrap('<volume name="appvms/w/private.img" usage="1e9"/>'), /is not <volume/],
    ['too big', wrap('<volume name="appvms/w/private.img" usage="99999999999999999"/>'), /is not <volume/],
    ['odd name', wrap('<volume name="../../etc/x" usage="1"/>'), /is not <volume/],
    ['control char', wrap('<volume name="a&#27;b" usage="1"/>'), /not an XML character/],
    ['non-ASCII name', wrap('<volume name="appvms/w&#233;rk/private.img" usage="1"/>'), /is not <volume/],
    ['extra attribute', wrap('<volume name="appvms/w/private.img" usage="1" x="y"/>'), /is not <volume/],
    ['other element', wrap('<disk name="appvms/w/private.img" usage="1"/>'), /is not <volume/],
    ['twice', wrap('<volume name="a/b" usage="1"/><volume name="a/b" usage="2"/>'), /named twice/],
    ['version', wrap('', '2'), /unknown record version/],
    ['doctype', enc('<!DOCTYPE x [<!ENTITY a "b">]><wyng-qubes-volumes version="1"/>'), /DTD/],
    ['root', enc('<qubes version="1"/>'), /document element/],
  ];
  for (const [what, input, message] of cases) {
    assert.throws(
      () => parseVolumeRecord(input, 'wyng-qubes-volumes.xml of session S'),
      (e: unknown) => e instanceof WqError && e.kind === 'input' && message.test(e.message),
      what,
    );
  }
});
