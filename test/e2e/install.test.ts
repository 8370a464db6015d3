// `make install DESTDIR=…`: the tree, the modes, and that the installed program runs (as
// users, qrexec and systemd run it, and as Salt runs it: `node /usr/bin/wyng-qubes`).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ROOT } from '../helpers/cli.ts';
import { checkCalendar } from '../../src/core/calendar.ts';
import { COMMANDS } from '../../src/core/options.ts';

let dest: string;

function make(args: string[]): { code: number; out: string } {
  const r = spawnSync('make', ['-C', ROOT, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`/${relative(dir, p)}${st.isDirectory() ? '/' : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function mode(path: string): number {
  return statSync(join(dest, path)).mode & 0o7777;
}

function runInstalled(
  argv: string[],
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const [program, ...args] = argv as [string, ...string[]];
  const r = spawnSync(program, args, {
    encoding: 'utf8',
    // The installed file's "#!/usr/bin/node" (NODE_SHEBANG); wyng-qubes' own children use PATH.
    env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SERVICES = ['wyng.Backup', 'wyng.List', 'wyng.Prune', 'wyng.Restore', 'wyng.Status', 'wyng.Verify'];

before(() => {
  dest = mkdtempSync(join(tmpdir(), 'wq-install-'));
  const r = make(['install', `DESTDIR=${dest}`]);
  assert.equal(r.code, 0, r.out);
});

test('make install puts every file in its place with the right mode', () => {
  const files = tree(dest);
  const expected: Array<[string, number]> = [
    ['/usr/lib/wyng-qubes/wyng-qubes.mjs', 0o755],
    ...SERVICES.map((s): [string, number] => [`/etc/qubes-rpc/${s}`, 0o755]),
    ['/etc/qubes/policy.d/90-wyng-qubes.policy', 0o664],
    ['/etc/sudoers.d/wyng-qubes', 0o440],
    ['/etc/logrotate.d/wyng-qubes', 0o644],
    ['/usr/share/licenses/wyng-qubes/LICENSE', 0o644],
    ['/usr/share/licenses/wyng-qubes/THIRD-PARTY-LICENSES', 0o644],
    ['/etc/wyng-qubes', 0o700],
    ['/srv/salt/_modules/wyng_qubes.py', 0o644],
    ['/srv/salt/_states/wyng_qubes.py', 0o644],
    ['/srv/salt/wyng-qubes.top', 0o644],
    ['/etc/wyng-qubes/profiles.yaml', 0o600],
    ['/usr/lib/systemd/system/wyng-qubes-backup@.service', 0o644],
    ['/usr/lib/systemd/system/wyng-qubes-backup@.timer', 0o644],
    ['/usr/share/man/man1/wyng-qubes.1', 0o644],
    ['/usr/share/bash-completion/completions/wyng-qubes', 0o644],
    ['/var/lib/wyng-qubes', 0o700],
  ];
  for (const [path, m] of expected) {
    assert.ok(files.includes(path) || files.includes(`${path}/`), `${path} installed`);
    assert.equal(mode(path).toString(8), m.toString(8), `mode of ${path}`);
  }
  // Every example formula of the repository.
  for (const sls of readdirSync(join(ROOT, 'salt', 'formulas', 'wyng-qubes')).filter((f) => f.endsWith('.sls'))) {
    assert.equal(
      readFileSync(join(dest, 'srv/salt/wyng-qubes', sls), 'utf8'),
      readFileSync(join(ROOT, 'salt/formulas/wyng-qubes', sls), 'utf8'),
    );
  }
  // The services, the policy and the sudoers rule are the repository's files, unchanged.
  for (const [installed, source] of [
    ['etc/qubes/policy.d/90-wyng-qubes.policy', 'rpc/policy/90-wyng-qubes.policy'],
    ['etc/sudoers.d/wyng-qubes', 'packaging/sudoers.d/wyng-qubes'],
  ] as const)
    assert.equal(readFileSync(join(dest, installed), 'utf8'), readFileSync(join(ROOT, source), 'utf8'));
  // The program is the bundle with the packaged interpreter (rpmlint: no /usr/bin/env).
  const [shebang, ...rest] = readFileSync(join(dest, 'usr/lib/wyng-qubes/wyng-qubes.mjs'), 'utf8').split('\n');
  assert.equal(shebang, '#!/usr/bin/node');
  assert.deepEqual(rest, readFileSync(join(ROOT, 'dist/wyng-qubes.mjs'), 'utf8').split('\n').slice(1));
  // …and beside it every chunk of the build, unchanged, nothing else (scripts/build.mjs)
  const chunks = readdirSync(join(ROOT, 'dist/chunks')).sort();
  assert.ok(chunks.length > 0, 'the build has chunks');
  assert.deepEqual(readdirSync(join(dest, 'usr/lib/wyng-qubes/chunks')).sort(), chunks);
  for (const c of chunks) {
    assert.equal(mode(`/usr/lib/wyng-qubes/chunks/${c}`).toString(8), '644', `mode of chunks/${c}`);
    assert.equal(
      readFileSync(join(dest, 'usr/lib/wyng-qubes/chunks', c), 'utf8'),
      readFileSync(join(ROOT, 'dist/chunks', c), 'utf8'),
    );
  }
  for (const s of SERVICES)
    assert.equal(
      readFileSync(join(dest, 'etc/qubes-rpc', s), 'utf8'),
      readFileSync(join(ROOT, 'rpc/services', s), 'utf8'),
    );
  // Nothing else at the top: no stray directories.
  assert.deepEqual(
    files.filter((f) => /^\/[a-z]+\/$/.test(f)),
    ['/etc/', '/srv/', '/usr/', '/var/'],
  );
});

test('/usr/bin/wyng-qubes is a relative symlink to the bundle, and the installed program runs', () => {
  const link = join(dest, 'usr/bin/wyng-qubes');
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), '../lib/wyng-qubes/wyng-qubes.mjs');
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const direct = runInstalled([link, 'version']);
  assert.equal(direct.code, 0, direct.stderr);
  assert.equal(direct.stdout, `wyng-qubes ${version}\n`);
  // As the Salt module runs it: node BIN --json.
  const salt = runInstalled([process.execPath, link, 'version', '--json']);
  assert.equal(salt.code, 0, salt.stderr);
  assert.deepEqual(JSON.parse(salt.stdout), {
    ok: true,
    exitCode: 0,
    command: 'version',
    result: { version },
    errors: [],
  });
  // The qrexec service files run /usr/bin/wyng-qubes.
  for (const s of SERVICES)
    assert.match(
      readFileSync(join(dest, 'etc/qubes-rpc', s), 'utf8'),
      new RegExp(`^exec /usr/bin/wyng-qubes rpc ${s.replace('.', '\\.')}$`, 'm'),
    );
});

test('the example profiles.yaml is valid, schedules included, and a second install keeps an edited one', () => {
  const link = join(dest, 'usr/bin/wyng-qubes');
  const configDir = join(dest, 'etc/wyng-qubes');
  const r = runInstalled([link, 'profiles', '--json'], { WYNG_QUBES_CONFIG_DIR: configDir });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    result: { profiles: Array<{ name: string; schedule?: string; hooks?: unknown; notify?: unknown }> };
  };
  assert.deepEqual(
    doc.result.profiles.map((p) => p.name),
    ['nightly', 'work-weekly'],
  );
  for (const p of doc.result.profiles) {
    assert.ok(p.schedule !== undefined, `${p.name} has a schedule`);
    assert.deepEqual(checkCalendar(p.schedule), { ok: true }, p.schedule);
  }
  assert.ok(doc.result.profiles[0]?.hooks && doc.result.profiles[0]?.notify, 'the example shows hooks and notify');

  writeFileSync(join(configDir, 'profiles.yaml'), 'profiles: {}\n', { mode: 0o600 });
  const again = make(['install', `DESTDIR=${dest}`]);
  assert.equal(again.code, 0, again.out);
  assert.equal(readFileSync(join(configDir, 'profiles.yaml'), 'utf8'), 'profiles: {}\n', 'not overwritten');
});

/** Long options the program's own help lists: the overview (--help) and every command's (help COMMAND). */
function helpOptions(): string[] {
  const opts: string[] = [];
  for (const argv of [['--help'], ...COMMANDS.map((c) => ['help', c])]) {
    const r = runInstalled([join(dest, 'usr/bin/wyng-qubes'), ...argv]);
    assert.equal(r.code, 0, argv.join(' '));
    opts.push(...[...r.stdout.matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!));
  }
  assert.ok(new Set(opts).size > 40, 'the help lists the options');
  return [...new Set(opts)];
}

test('the man page documents every option of the help and renders', () => {
  const page = readFileSync(join(dest, 'usr/share/man/man1/wyng-qubes.1'), 'utf8');
  assert.match(page, /^\.TH "WYNG-QUBES" "1" "" "wyng-qubes \d+\.\d+\.\d+" "wyng-qubes manual"$/m);
  for (const section of [
    'NAME',
    'SYNOPSIS',
    'COMMANDS',
    'OPTIONS',
    'PROFILES',
    'SCHEDULED BACKUPS',
    'REPORTS',
    'EXIT STATUS',
    'FILES',
  ]) {
    assert.match(page, new RegExp(`^\\.SH ${section}$`, 'm'), section);
  }
  for (const opt of helpOptions())
    assert.ok(page.includes(`\\fB${opt.replaceAll('-', '\\-')}\\fR`), `man page documents ${opt}`);
  const groff = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(dest, 'usr/share/man/man1/wyng-qubes.1')], {
    encoding: 'utf8',
  });
  if (groff.error === undefined) {
    assert.equal(groff.status, 0);
    assert.equal(groff.stderr, '', 'groff renders the page without warnings');
  }
});

test('bash completion knows every option of the help, the commands, schedule actions and profile names', () => {
  const file = join(dest, 'usr/share/bash-completion/completions/wyng-qubes');
  const text = readFileSync(file, 'utf8');
  for (const opt of helpOptions()) assert.match(text, new RegExp(`(\\s|")${opt}(\\s|")`), `completion offers ${opt}`);
  const complete = (words: string[]): string[] => {
    const script = [
      `source '${file}'`,
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      '_wyng_qubes',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const r = spawnSync('bash', ['-c', script], {
      encoding: 'utf8',
      // profile names come from `wyng-qubes profiles`: the installed program (and node) on PATH
      env: {
        PATH: `${join(dest, 'usr/bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
        WYNG_QUBES_CONFIG_DIR: join(dest, 'etc/wyng-qubes'),
      },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };
  assert.deepEqual(complete(['wyng-qubes', 're']), ['restore', 'remote', 'report']);
  assert.deepEqual(complete(['wyng-qubes', '-u', 'schedule', '']), ['enable', 'disable', 'list']);
  assert.deepEqual(complete(['wyng-qubes', '--autoprune', '']), ['off', 'on', 'full']);
  assert.deepEqual(complete(['wyng-qubes', '--last']), ['--last']);
  writeFileSync(
    join(dest, 'etc/wyng-qubes/profiles.yaml'),
    'profiles:\n  nightly:\n    dest: file:/x\n  work-weekly:\n    dest: file:/y\n',
    { mode: 0o600 },
  );
  assert.deepEqual(complete(['wyng-qubes', 'schedule', 'enable', '']), ['nightly', 'work-weekly']);
  assert.deepEqual(complete(['wyng-qubes', '--profile', 'n']), ['nightly']);
});
