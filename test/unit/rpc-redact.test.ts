import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newReference, redactErrors, redactResult } from '../../src/rpc/redact.ts';
import type { ErrorRecord } from '../../src/core/errors.ts';

test('operation errors become generic text with the reference; request errors stay', () => {
  const errors: ErrorRecord[] = [
    { kind: 'wyng', message: 'Wyng failed: /var/lib/wyng/... I/O ERROR on file:/mnt/backup' },
    { kind: 'hook', message: "hooks.before of 'n' (/usr/local/bin/mount-usb --key /root/k) failed: output" },
    { kind: 'qubes-failed', qube: 'work', message: 'admin.vm.volume.Import failed: /dev/qubes_dom0/vm-work' },
    { kind: 'forbidden', message: "Profile 'n' does not allow remote Restore." },
    { kind: 'selection', message: 'No sessions match 20260101-000000.' },
    { kind: 'busy', message: 'Another wyng-qubes job is running (backup (pid 12), pid 12, since x).' },
  ];
  const { value, withheld } = redactErrors(errors, 'abcd0123');
  assert.equal(value.length, errors.length);
  const text = JSON.stringify(value);
  for (const secret of ['/var/lib', '/mnt/backup', '/usr/local', '/root/k', '/dev/qubes', 'pid 12']) {
    assert.ok(!text.includes(secret), secret);
  }
  assert.equal(value[2]!.qube, 'work');
  assert.match(value[2]!.message, /^'work' failed\. Reference abcd0123/);
  assert.equal(value[3]!.message, errors[3]!.message);
  assert.equal(value[4]!.message, errors[4]!.message);
  assert.match(value[5]!.message, /^Another wyng-qubes job is running; try again later\. Reference abcd0123/);
  assert.deepEqual(
    value.map((e) => e.kind),
    errors.map((e) => e.kind),
  );
  // everything withheld is in the dom0 log lines
  assert.equal(withheld.length, 4);
  assert.ok(withheld.some((l) => l.includes('/root/k')));
});

test('results lose the archive URL, pool details and per-qube error text', () => {
  const { value, withheld } = redactResult(
    {
      archive: { url: 'ssh://user@backup-host/srv/wyng', encrypted: true },
      pools: [{ name: 'lvm', config: { volume_group: 'qubes_dom0' } }],
      qubes: [
        { name: 'work', status: 'failed', error: 'cannot open /dev/qubes_dom0/x' },
        { name: 'p', status: 'ok' },
      ],
      session: '20260101-000000',
    },
    'ref00001',
  );
  const text = JSON.stringify(value);
  assert.ok(!/backup-host|qubes_dom0/.test(text), text);
  const v = value as { archive: { url: unknown; encrypted: boolean }; pools?: unknown; session: string };
  assert.equal(v.archive.url, null);
  assert.equal(v.archive.encrypted, true);
  assert.equal(v.pools, undefined);
  assert.equal(v.session, '20260101-000000');
  assert.match(text, /ref00001/);
  assert.equal(withheld.length, 3);
  assert.deepEqual(redactResult(null, 'x').value, null);
});

test('references are 8 hex digits and differ', () => {
  const a = newReference();
  assert.match(a, /^[0-9a-f]{8}$/);
  assert.notEqual(a, newReference());
});
