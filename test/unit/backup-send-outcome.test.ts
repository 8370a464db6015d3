// What a Wyng send stored, decided from the archive re-read afterwards (settleSend), and the
// parsing of the send's output (MiB per pool, the volume each progress line starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settleSend, type BackupVolume, type SendOutcomeInput } from '../../src/core/backup/plan.ts';
import { sendProgressVolume, sentMegabytes, WYNG_MB } from '../../src/adapters/wyng/output.ts';

const vol = (qube: string, local: string, poolPath: string, archive = local): BackupVolume => ({
  qube,
  kind: 'private',
  pool: 'p',
  poolPath,
  archive,
  local,
  ...(archive !== local ? { renamedFrom: archive } : {}),
});
const work = vol('work', 'appvms/work/private.img', '/var/lib/qubes');
const personal = vol('personal', 'vm-personal-private', 'qubes_dom0/vm-pool');
const renamed = vol('sys-net', 'appvms/sys-net/private.img', '/var/lib/qubes', 'vm-sys-net-private');

const base: SendOutcomeInput = {
  volumes: [work, personal, renamed],
  metadataBefore: ['20260101-000000'],
  after: undefined,
  printedSession: '20260102-000000',
  errorFile: [],
  missingLocal: [],
  exitCode: 0,
};
const S = '20260102-000000';

test('settleSend: every volume in the new metadata session → stored, renamed volumes under their new name', () => {
  const out = settleSend({
    ...base,
    after: {
      'wyng-qubes-metadata': ['20260101-000000', S],
      'appvms/work/private.img': ['20260101-000000', S],
      'vm-personal-private': [S],
      'appvms/sys-net/private.img': ['20251201-000000', S],
    },
  });
  assert.equal(out.session, S);
  assert.equal(out.metadataStored, true);
  assert.deepEqual(
    out.volumes.map((v) => [v.name, v.failure]),
    [
      ['appvms/work/private.img', undefined],
      ['vm-personal-private', undefined],
      ['appvms/sys-net/private.img', undefined],
    ],
  );
});

test('settleSend: volumes missing from the session fail with the best reason at hand', () => {
  const out = settleSend({
    ...base,
    exitCode: 2,
    errorFile: ['vm-personal-private'],
    missingLocal: ['/var/lib/qubes/appvms/work/private.img'],
    after: {
      'wyng-qubes-metadata': ['20260101-000000', S],
      'appvms/work/private.img': ['20260101-000000'],
      'vm-personal-private': [],
      // the rename never happened (Wyng failed before it): the old name is what the archive has
      'vm-sys-net-private': ['20251201-000000'],
    },
  });
  assert.equal(out.metadataStored, true);
  const [w, p, r] = out.volumes;
  assert.match(w!.failure!, /local volume \/var\/lib\/qubes\/appvms\/work\/private\.img does not exist/);
  assert.match(p!.failure!, /Wyng reported an error sending vm-personal-private/);
  assert.equal(r!.name, 'vm-sys-net-private');
  assert.equal(r!.failure, `vm-sys-net-private was not stored in session ${S} (Wyng ended with exit 2)`);
});

test('settleSend: no new metadata session → not a Qubes session, even when data volumes made it', () => {
  const out = settleSend({
    ...base,
    after: { 'wyng-qubes-metadata': ['20260101-000000'], 'appvms/work/private.img': [S] },
  });
  assert.equal(out.metadataStored, false);
  assert.equal(out.session, S, 'the printed session');
  assert.equal(out.volumes[0]!.failure, undefined);
});

test("settleSend: archive not re-readable → Wyng's reports (error file, missing-local warnings) decide", () => {
  const out = settleSend({
    ...base,
    exitCode: 2,
    errorFile: ['appvms/sys-net/private.img'],
    missingLocal: ['/elsewhere/vm-personal-private'],
  });
  assert.equal(out.session, S);
  assert.equal(out.metadataStored, true);
  assert.deepEqual(
    out.volumes.map((v) => v.failure !== undefined),
    [false, true, true],
  );
  const meta = settleSend({ ...base, exitCode: 2, errorFile: ['wyng-qubes-metadata'] });
  assert.equal(meta.metadataStored, false);
  // a missing-local path only matches the whole last path components
  const near = settleSend({ ...base, missingLocal: ['/x/vm-homepersonal-private'] });
  assert.deepEqual(
    near.volumes.map((v) => v.failure),
    [undefined, undefined, undefined],
  );
});

test('sentMegabytes: the sum of every pool summary line (Wyng MB = MiB)', () => {
  const out = [
    'Sending backup session 20261123-034659:',
    '3 volumes, 192\u2014\u2014>3 MB in 0.4 seconds.',
    'Sending backup session 20261123-034659:',
    '1 volumes, 2048\u2014\u2014>2 MB in 0.1 seconds.',
  ].join('\n');
  assert.equal(sentMegabytes(out), 5);
  assert.equal(sentMegabytes('nothing sent'), undefined);
  assert.equal(WYNG_MB, 1048576);
});

test('sendProgressVolume: unattended and attended volume lines', () => {
  assert.equal(sendProgressVolume("Volume 'appvms/work/private.img'"), 'appvms/work/private.img');
  assert.equal(sendProgressVolume('            |     | vm-templates/t/root.img'), 'vm-templates/t/root.img');
  assert.equal(sendProgressVolume('  [||||||||||||||||||||]  100%  0.0MB '), undefined);
  assert.equal(sendProgressVolume("Receiving volume 'x'"), undefined);
});
