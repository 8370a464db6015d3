import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wyngArgv, wyngPrefix, type WyngGlobals } from '../../src/adapters/wyng/argv.ts';
import { wyngEnvironment } from '../../src/adapters/wyng/process.ts';
import { wyngFailure, softFailures } from '../../src/adapters/wyng/errors.ts';
import { wyngTranscriptsDir } from '../helpers/test-data.ts';

const TRANSCRIPTS = wyngTranscriptsDir();
const argvOf = (name: string): string[] =>
  (JSON.parse(readFileSync(join(TRANSCRIPTS, `${name}.json`), 'utf8')) as { argv: string[] }).argv.slice(1);

const g: WyngGlobals = { dest: 'file:{ARCHIVE}', unattended: true, wyngopt: [] };

test('argv equals what the recorded wyng-util-qubes calls sent (design.md "Wyng contract")', () => {
  assert.deepEqual(
    wyngArgv.send(g, { localFrom: '{TMP}/u-vols.json', metadataTar: '{TMP}/qmeta-u-S1.tgz' }),
    argvOf('u03-send-s1'),
  );
  assert.deepEqual(wyngArgv.list(g), argvOf('u04-list-after-s1'));
  assert.deepEqual(
    wyngArgv.receive(g, {
      localFrom: '{TMP}/u-recv.json',
      session: '20261123-034701',
      useSnapshot: false,
      verbose: false,
    }),
    argvOf('u10-receive-s2-no-snapshot'),
  );
  assert.deepEqual(
    wyngArgv.verify(g, {
      volsFrom: '{TMP}/u-verify.json',
      session: '20261123-034701',
      volumes: [
        'appvms/work/private.img',
        'appvms/personal/private.img',
        'vm-templates/debian-12/root.img',
        'vm-templates/debian-12/private.img',
      ],
      verbose: false,
    }),
    argvOf('u16-verify-volsfrom'),
  );
  assert.deepEqual(
    wyngArgv.delete(g, { volume: 'appvms/personal/private.img', verbose: false }),
    argvOf('u39-delete-volume'),
  );
  assert.deepEqual(wyngArgv.archCheckNewest(g), argvOf('u20-arch-check-newest'));
});

test('prefix: meta-dir, -u only when unattended, authmin, -w options, passcmd without the secret', () => {
  assert.deepEqual(
    wyngPrefix({
      dest: 'file:/a',
      metaDir: '/m',
      unattended: false,
      authmin: 10,
      wyngopt: ['tag=nightly,Nightly', 'encrypt=off'],
      passcmd: "timeout 10 head -n 1 '/tmp/d/passphrase'",
    }),
    [
      '--dest=file:/a',
      '--meta-dir=/m',
      '--authmin=10',
      '--tag=nightly,Nightly',
      '--encrypt=off',
      "--passcmd=timeout 10 head -n 1 '/tmp/d/passphrase'",
    ],
  );
});

test('Wyng runs without a small COLUMNS, with system dirs on PATH, never with a passphrase variable', () => {
  const env = wyngEnvironment({ PATH: '/opt/x', COLUMNS: '80', WYNG_QUBES_PASSPHRASE: 'leak', HOME: '/root' });
  assert.equal(env.COLUMNS, undefined);
  assert.equal(env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/x');
  assert.equal(env.WYNG_QUBES_PASSPHRASE, undefined);
  assert.equal(env.HOME, '/root');
});

const result = (exitCode: number | undefined, stderr: string, signal?: string) => ({
  argv: ['list'],
  exitCode,
  signal,
  stdout: '',
  stderr,
  durationMs: 1,
  spawnError: undefined,
});

test('Wyng exit codes map to our error kinds and exit codes', () => {
  const cases: Array<[ReturnType<typeof result>, string, number]> = [
    [result(3, '\nAuthenticationError: Could not decrypt/authenticate archive.\n'), 'auth', 3],
    [result(5, '\nStorageError: File ownership mis-match on destination.\n'), 'storage', 5],
    [result(6, "\nStorageError: Archive not found at 'file:/x'\n\n"), 'storage', 6],
    [result(7, '\nStorageError: Filesystem Generation IDs differ.\n'), 'storage', 7],
    [result(8, '\n*** Interrupt.\n'), 'interrupted', 8],
    [result(1, 'I/O ERROR obtaining lock on /var/lock/wyng\n'), 'wyng', 1],
    [result(9, '\nOptionError: Must be root/admin user for send.\n'), 'wyng', 9],
    [result(undefined, '', 'SIGKILL'), 'wyng', 1],
    [result(undefined, '', 'SIGTERM'), 'interrupted', 8],
  ];
  for (const [r, kind, code] of cases) {
    const e = wyngFailure(r, 'list');
    assert.equal(e.kind, kind, r.stderr);
    assert.equal(e.exitCode, code, r.stderr);
  }
  assert.match(
    wyngFailure(result(6, "\nStorageError: Archive not found at 'file:/x'\n\n"), 'list').message,
    /Archive not found/,
  );
});

test('exit-0 soft failures are found in Wyng output', () => {
  const r = {
    ...result(0, "  Warning: Local '/pool/appvms/x/private.img' does not exist!\n"),
    stdout: "Volume 'vm-gone-private' not found; Skipping.\n",
  };
  assert.deepEqual(softFailures(r), { notFound: ['vm-gone-private'], missingLocal: ['/pool/appvms/x/private.img'] });
});
