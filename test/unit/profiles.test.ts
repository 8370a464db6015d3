import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile, loadProfiles, readPassphrase, readProfiles } from '../../src/adapters/profiles.ts';
import { CommonOptionsSchema } from '../../src/core/options.ts';
import { mergeProfile, ProfileSchema, validateProfilesDocument, type Profile } from '../../src/core/profiles.ts';
import { WqError } from '../../src/core/errors.ts';
import { runInProcess } from '../helpers/cli.ts';
import { RPC_SEED } from '../helpers/rpc.ts';
import { buildSandbox } from '../helpers/sim.ts';

function configDir(yaml: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'wq-profiles-'));
  writeFileSync(join(dir, 'profiles.yaml'), yaml, { mode });
  chmodSync(join(dir, 'profiles.yaml'), mode);
  return dir;
}

const NIGHTLY = `profiles:
  nightly:
    dest: file:/mnt/backup/wyng
    qubes: [work, personal]
    includes: false
    exclude: []
    options: { dedup: true, autoprune: "on", check_after_send: true, pool: vm-pool, wyng_options: [compression=zstd:3] }
    remote:
      operations: [Backup, List, Verify, Status, Restore]
      restore_qubes: [work]
      callers: [mgmt]
    schedule: "*-*-* 02:00:00"
    notify: { desktop: failure, command: [/usr/local/bin/mail-report, --to, root] }
    hooks: { before: [/usr/local/bin/mount-backup], after: [/usr/local/bin/umount-backup], timeout_s: 600 }
`;

function errorOf(fn: () => unknown): WqError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WqError, `expected WqError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

test('the issue example loads with every documented key, defaults filled in', () => {
  const dir = configDir(NIGHTLY);
  const { file, profiles } = loadProfiles(dir);
  assert.equal(file, join(dir, 'profiles.yaml'));
  const p = profiles.nightly!;
  assert.equal(p.dest, 'file:/mnt/backup/wyng');
  assert.deepEqual(p.qubes, ['work', 'personal']);
  assert.deepEqual(p.remote.operations, ['Backup', 'List', 'Verify', 'Status', 'Restore']);
  assert.deepEqual(p.hooks, {
    before: ['/usr/local/bin/mount-backup'],
    after: ['/usr/local/bin/umount-backup'],
    timeout_s: 600,
  });
  assert.equal(p.notify?.desktop, 'failure');
  const minimal = validateProfilesDocument({ profiles: { weekly: { dest: 'file:/b' } } });
  assert.deepEqual(minimal.problems, []);
  assert.deepEqual(minimal.profiles.weekly!.remote, { operations: [], restore_qubes: [], restore_as: false });
  assert.deepEqual(minimal.profiles.weekly!.qubes, []);
});

test('unknown keys and bad values are errors naming file, profile and field', () => {
  const cases: Array<[string, RegExp]> = [
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    destination: x\n',
      /profiles\.yaml: profile 'nightly': field 'destination': unknown field/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    options: { dedupe: true }\n',
      /profile 'nightly': field 'options\.dedupe': unknown field/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    remote: { operations: [Backup, Delete] }\n',
      /profile 'nightly': field 'remote\.operations\.1'/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    remote: { callerz: [mgmt] }\n',
      /field 'remote\.callerz': unknown field/,
    ],
    ['profiles:\n  nightly:\n    dest: /no/scheme\n', /profile 'nightly': field 'dest': must be a Wyng URL/],
    ['profiles:\n  nightly:\n    dest: file:/b\n    qubes: [1bad]\n', /field 'qubes\.0': invalid qube name '1bad'/],
    ['profiles:\n  nightly:\n    dest: file:/b\n    options: { autoprune: sometimes }\n', /field 'options\.autoprune'/],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    options: { wyng_options: [passcmd=cat /x] }\n',
      /field 'options\.wyng_options\.0': only these Wyng options are allowed/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    passphrase_file: relative.pass\n',
      /field 'passphrase_file': must be an absolute path/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    passphrase_command: "cat /etc/pass"\n',
      /field 'passphrase_command'/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    passphrase_command: [cat, /etc/pass]\n',
      /passphrase_command': the program \(first item\) must be an absolute path/,
    ],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    passphrase_file: /a\n    passphrase_command: [/bin/cat, /a]\n',
      /not both/,
    ],
    ['profiles:\n  nightly:\n    dest: file:/b\n    notify: { desktop: sometimes }\n', /field 'notify\.desktop'/],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    hooks: { before: [/bin/true], during: [/bin/true] }\n',
      /field 'hooks\.during': unknown field/,
    ],
    ['profiles:\n  nightly:\n    dest: file:/b\n    hooks: { timeout_s: 0 }\n', /field 'hooks\.timeout_s'/],
    ['profiles:\n  nightly:\n    dest: file:/b\n    schedule: "daily; rm -rf /"\n', /field 'schedule'/],
    [
      'profiles:\n  nightly:\n    dest: file:/b\n    remote: { restore_qubes: [dom0] }\n',
      /field 'remote\.restore_qubes': dom0 cannot be restored/,
    ],
    ['profiles:\n  Nightly:\n    dest: file:/b\n', /profile 'Nightly': invalid profile name/],
    ['profiles:\n  nightly:\n    dest: file:/b\nextra: 1\n', /profiles\.yaml: field 'extra': unknown field/],
    ['profiles:\n  nightly:\n    dest: file:/b\n  nightly:\n    dest: file:/c\n', /duplicated mapping key/],
    ['profiles: [\n', /YAML error/],
    ['', /empty/],
  ];
  for (const [yaml, expected] of cases) {
    const dir = configDir(yaml);
    const e = errorOf(() => loadProfiles(dir));
    assert.equal(e.kind, 'config', yaml);
    assert.match(e.message, expected, yaml);
    assert.ok(e.message.includes(join(dir, 'profiles.yaml')), `file named: ${e.message}`);
  }
});

test('YAML tags that build objects are plain data or refused (core schema)', () => {
  const dir = configDir('profiles:\n  nightly:\n    dest: !!js/function "function(){}"\n');
  const e = errorOf(() => loadProfiles(dir));
  assert.match(e.message, /unknown tag|YAML error/);
});

test('a profiles file writable by group or others, or a symlink, is refused', () => {
  const dir = configDir(NIGHTLY, 0o666);
  assert.match(errorOf(() => loadProfiles(dir)).message, /writable by group or others/);
  const dir2 = mkdtempSync(join(tmpdir(), 'wq-profiles-'));
  writeFileSync(join(dir2, 'real.yaml'), NIGHTLY, { mode: 0o600 });
  symlinkSync(join(dir2, 'real.yaml'), join(dir2, 'profiles.yaml'));
  assert.match(errorOf(() => loadProfiles(dir2)).message, /symbolic link/);
  const missing = readProfiles(join(dir2, 'nope'));
  assert.equal(missing.exists, false);
  assert.match(errorOf(() => loadProfiles(join(dir2, 'nope'))).message, /does not exist/);
  assert.match(errorOf(() => loadProfile(configDir(NIGHTLY), 'weekly')).message, /Unknown profile 'weekly'/);
});

function profile(extra: Record<string, unknown>): Profile {
  return ProfileSchema.parse({ dest: 'file:/b', ...extra });
}

test('passphrase_file: regular, private file only; content without the final newline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-pass-'));
  const file = join(dir, 'p.pass');
  writeFileSync(file, 'correct horse battery\n', { mode: 0o600 });
  assert.equal(await readPassphrase(profile({ passphrase_file: file }), 'n'), 'correct horse battery');
  for (const mode of [0o640, 0o604, 0o620]) {
    chmodSync(file, mode);
    await assert.rejects(
      readPassphrase(profile({ passphrase_file: file }), 'n'),
      /readable or writable by group or others/,
    );
  }
  chmodSync(file, 0o600);
  const link = join(dir, 'link.pass');
  symlinkSync(file, link);
  await assert.rejects(readPassphrase(profile({ passphrase_file: link }), 'n'), /symbolic link/);
  await assert.rejects(readPassphrase(profile({ passphrase_file: dir }), 'n'), /not a regular file/);
  await assert.rejects(readPassphrase(profile({ passphrase_file: join(dir, 'missing') }), 'n'), /Cannot open/);
  writeFileSync(join(dir, 'empty.pass'), '\n', { mode: 0o600 });
  await assert.rejects(readPassphrase(profile({ passphrase_file: join(dir, 'empty.pass') }), 'n'), /empty/);
  assert.equal(await readPassphrase(profile({}), 'n'), undefined);
});

test('passphrase_command runs as an argv list, without a shell', async () => {
  const p = profile({ passphrase_command: ['/bin/echo', '$(id) `whoami`; x'] });
  assert.equal(await readPassphrase(p, 'n'), '$(id) `whoami`; x');
  await assert.rejects(
    readPassphrase(profile({ passphrase_command: ['/bin/false'] }), 'n'),
    /passphrase_command of profile 'n' failed \(exit 1\)/,
  );
  await assert.rejects(readPassphrase(profile({ passphrase_command: ['/nonexistent/program'] }), 'n'), /failed/);
});

test('mergeProfile: the profile fills what was not given explicitly; explicit options win', () => {
  const p = loadProfiles(configDir(NIGHTLY)).profiles.nightly!;
  const defaults = CommonOptionsSchema.parse({});
  const filled = mergeProfile('backup', p, defaults, [], new Set());
  assert.equal(filled.options.dest, 'file:/mnt/backup/wyng');
  assert.equal(filled.options.dedup, true);
  assert.equal(filled.options.autoprune, 'on');
  assert.equal(filled.options.checkAfterSend, true);
  assert.equal(filled.options.pool, 'vm-pool');
  assert.deepEqual(filled.options.wyngopt, ['compression=zstd:3']);
  assert.deepEqual(filled.args, ['work', 'personal']);

  const given = CommonOptionsSchema.parse({ dest: 'file:/elsewhere', autoprune: 'off', exclude: ['x'] });
  const explicit = mergeProfile('backup', p, given, ['sys-usb'], new Set(['dest', 'autoprune', 'exclude']));
  assert.equal(explicit.options.dest, 'file:/elsewhere');
  assert.equal(explicit.options.autoprune, 'off');
  assert.deepEqual(explicit.options.exclude, ['x']);
  assert.equal(explicit.options.dedup, true);
  assert.deepEqual(explicit.args, ['sys-usb']);
  // The profile's qube list is a backup selection only.
  assert.deepEqual(mergeProfile('verify', p, defaults, [], new Set()).args, []);
});

test('--profile on the command line: profile values under explicit options, passphrase by --passcmd only', async () => {
  // Two encrypted archives with the profile's passphrase: a list succeeds only if Wyng got it.
  const sb = await buildSandbox({ qubesd: false, archive: { seed: RPC_SEED, passphrase: 'a long passphrase' } });
  const explicitDir = join(sb.dir, 'explicit');
  cpSync(sb.archiveDir, explicitDir, { recursive: true });
  const pass = join(sb.dir, 'n.pass');
  writeFileSync(pass, 'a long passphrase\n', { mode: 0o600 });
  sb.writeProfiles(
    'profiles:\n  nightly:\n' +
      `    dest: ${sb.archiveUrl}\n    passphrase_file: ${pass}\n` +
      '    options: { authmin: 5, wyng_options: [maxsync] }\n',
  );
  const envNames = join(sb.dir, 'wyng-env-names');
  const env = { WYNG_TEST_CAPTURE_ENV_NAMES: envNames };
  const r = await sb.cli(['list', '--profile', 'nightly', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const r2 = await sb.cli(['list', '--profile=nightly', `--dest=file:${explicitDir}`, '--authmin=1', '--json'], {
    env,
  });
  assert.equal(r2.code, 0, r2.stderr);
  const calls = sb.wyngCalls().map((c) => c.argv);
  assert.equal(calls.length, 2);
  assert.ok(calls[0]!.includes(`--dest=${sb.archiveUrl}`), calls[0]!.join(' '));
  assert.ok(calls[0]!.includes('--authmin=5'));
  assert.ok(calls[0]!.includes('--maxsync'), 'wyng_options (Wyng 0.8: --maxsync is a flag)');
  assert.ok(calls[1]!.includes(`--dest=file:${explicitDir}`), calls[1]!.join(' '));
  assert.ok(calls[1]!.includes('--authmin=1'));
  for (const c of calls) {
    assert.ok(!c.join(' ').includes('a long passphrase'), 'the passphrase is never in argv');
    assert.ok(
      c.some((a) => a.startsWith('--passcmd=')),
      'the passphrase goes by --passcmd (the lists succeeded: Wyng read it)',
    );
  }
  const envLines = readFileSync(envNames, 'utf8').trim().split('\n');
  assert.equal(envLines.length, 2);
  for (const names of envLines)
    assert.ok(!names.split(' ').includes('WYNG_QUBES_PASSPHRASE'), "the passphrase is never in Wyng's environment");
  const unknown = await sb.cli(['list', '--profile', 'weekly', '--json']);
  assert.equal(unknown.code, 9);
  assert.match(unknown.stdout, /Unknown profile 'weekly'/);
  assert.equal(sb.wyngCalls().length, 2, 'no Wyng call for an unknown profile');
  await sb.stop();
});

test('library API: options given to run() win over the profile', async () => {
  const { run } = await import('../../src/index.ts');
  const sb = await buildSandbox({
    qubesd: false,
    archive: { seed: RPC_SEED },
    profiles: (s) => `profiles:\n  nightly:\n    dest: ${s.archiveUrl}\n`,
  });
  const libDir = join(sb.dir, 'lib');
  cpSync(sb.archiveDir, libDir, { recursive: true });
  const env = { PATH: process.env.PATH, ...sb.env };
  const a = await run('list', { profile: 'nightly' }, { env });
  assert.equal(a.ok, true, JSON.stringify(a.errors));
  const b = await run('list', { profile: 'nightly', dest: `file:${libDir}` }, { env });
  assert.equal(b.ok, true, JSON.stringify(b.errors));
  const argvs = sb.wyngCalls().map((c) => c.argv);
  assert.ok(argvs[0]!.includes(`--dest=${sb.archiveUrl}`));
  assert.ok(argvs[1]!.includes(`--dest=file:${libDir}`));
  await sb.stop();
});

test('profiles lists without secrets; profiles check validates and warns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wq-cli-profiles-'));
  const pass = join(dir, 'n.pass');
  writeFileSync(pass, 'secret-passphrase-123\n', { mode: 0o600 });
  writeFileSync(
    join(dir, 'profiles.yaml'),
    `profiles:\n  nightly:\n    dest: file:/b\n    passphrase_file: ${pass}\n` +
      '    remote: { operations: [Restore], restore_qubes: [work] }\n' +
      '  weekly:\n    dest: file:/c\n    passphrase_command: [/bin/echo, secret-from-command]\n',
    { mode: 0o600 },
  );
  const env = { WYNG_QUBES_CONFIG_DIR: dir };
  const list = await runInProcess(['profiles', '--json'], { env });
  assert.equal(list.code, 0, list.stderr);
  const doc = JSON.parse(list.stdout) as { result: { profiles: Array<{ name: string; passphrase: string }> } };
  assert.deepEqual(
    doc.result.profiles.map((p) => [p.name, p.passphrase]),
    [
      ['nightly', 'file'],
      ['weekly', 'command'],
    ],
  );
  assert.ok(!list.stdout.includes('secret'), 'no secret and no secret location in the listing');
  assert.ok(!list.stdout.includes(pass));

  const check = await runInProcess(['profiles', 'check', '--json'], { env });
  assert.equal(check.code, 0, check.stderr);
  const c = JSON.parse(check.stdout) as { result: { valid: boolean; warnings: string[] } };
  assert.equal(c.result.valid, true);
  assert.match(c.result.warnings.join('\n'), /profile 'nightly': field 'remote\.callers'/);

  chmodSync(pass, 0o644);
  const bad = await runInProcess(['profiles', 'check', '--json'], { env });
  assert.equal(bad.code, 9);
  assert.match(bad.stdout, /profile 'nightly': field 'passphrase_file'.*chmod 600/);

  writeFileSync(join(dir, 'profiles.yaml'), 'profiles:\n  nightly:\n    dest: file:/b\n    bogus: 1\n', {
    mode: 0o600,
  });
  const invalid = await runInProcess(['profiles', 'check']);
  assert.equal(invalid.code, 9);
  const invalid2 = await runInProcess(['profiles', 'check'], { env });
  assert.equal(invalid2.code, 9);
  assert.match(invalid2.stderr, /profile 'nightly': field 'bogus': unknown field/);
  const listBad = await runInProcess(['profiles'], { env });
  assert.equal(listBad.code, 9);
  const usage = await runInProcess(['profiles', 'frobnicate'], { env });
  assert.equal(usage.code, 9);
});
