// Property-based fuzz of the command line (>= 10,000 argv vectors) and of profiles.yaml as the
// CLI reads it, through the real program in-process (runCli). Every external program the
// product may run (Wyng, qrexec-client-vm, systemctl, systemd-analyze, sudo, runuser,
// notify-send) is one logging stub, and qubesd is a socket that counts connections. For every
// input: runCli returns an exit code (never throws), no error is an internal one (a crash the
// product wrapped), and input the command line validation refuses (options, qube names) or an
// invalid profiles.yaml never reaches Wyng, another program or qubesd.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { readProfiles } from '../../src/adapters/profiles.ts';
import { parseCommandLine, runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { WqError } from '../../src/core/errors.ts';
import { assertQubeName } from '../../src/core/names.ts';
import { COMMANDS } from '../../src/core/options.ts';
import { removeDir } from './helpers/scenario.ts';

const SEED = Number(process.env.WYNG_QUBES_FUZZ_SEED ?? 20251128);
const ARG_COMMANDS = new Set(['profiles', 'rpc', 'remote', 'schedule', 'report']);
/** Exit codes the product documents (README "Exit codes", rpc/README.md) plus the stub's 1. */
const KNOWN_EXITS = new Set([0, 1, 2, 3, 5, 6, 7, 8, 9, 125, 126, 127]);

const dir = mkdtempSync(join(tmpdir(), 'wq-fuzz-cli-'));
const log = join(dir, 'programs.log');
const stub = join(dir, 'stub');
let server: Server;
let qubesdConnections = 0;

const PROFILES = `profiles:
  nightly:
    dest: file:${dir}/archive
    qubes: [work, personal]
    remote: { operations: [Backup, List, Restore], restore_qubes: [work], callers: [mgmt] }
  weekly:
    dest: file:${dir}/weekly
    includes: true
`;

function env(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TMPDIR: join(dir, 'tmp'),
    WYNG_QUBES_CONFIG_DIR: join(dir, 'etc'),
    WYNG_QUBES_STATE_DIR: join(dir, 'state'),
    WYNG_QUBES_QUBES_DIR: join(dir, 'qubes'),
    WYNG_QUBES_QUBESD_SOCKET: join(dir, 'qubesd.sock'),
    WYNG_QUBES_QUBESD_TIMEOUT_MS: '2000',
    WYNG_QUBES_LOCK_TIMEOUT_MS: '200',
    WYNG_QUBES_WYNG: stub,
    WYNG_QUBES_QREXEC_CLIENT: stub,
    WYNG_QUBES_SYSTEMCTL: stub,
    WYNG_QUBES_SYSTEMD_ANALYZE: stub,
    WYNG_QUBES_SYSTEMD_DIR: join(dir, 'systemd'),
    WYNG_QUBES_SUDO: stub,
    WYNG_QUBES_RUNUSER: stub,
    WYNG_QUBES_NOTIFY_SEND: stub,
    WYNG_QUBES_RPC_SELF: stub,
  };
}

const programCalls = (): number =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '').length
    : 0;

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    stdinIsTTY: false,
    wyngStdin: 'ignore',
    env: env(),
    confirm: async () => false,
    readStdin: async () => Buffer.from(''),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

before(async () => {
  for (const d of ['etc', 'state', 'qubes', 'tmp', 'systemd']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'etc', 'profiles.yaml'), PROFILES, { mode: 0o600 });
  writeFileSync(stub, `#!/bin/sh\necho "$0 $*" >> '${log}'\necho 'stub: refusing' >&2\nexit 1\n`);
  chmodSync(stub, 0o755);
  server = createServer((c) => {
    qubesdConnections += 1;
    c.destroy();
  });
  await new Promise<void>((res) => server.listen(join(dir, 'qubesd.sock'), res));
});

after(async () => {
  await new Promise<void>((res) => server.close(() => res()));
  removeDir(dir);
});

/** What the command line validation (before any I/O) says about an argv: refused or not. */
function refusedByValidation(argv: string[]): boolean {
  try {
    const p = parseCommandLine(argv, { stdout: () => undefined, stderr: () => undefined, stdinIsTTY: false });
    if ('help' in p) return false;
    if (!ARG_COMMANDS.has(p.command)) p.args.forEach(assertQubeName);
    return false;
  } catch (err) {
    if (!(err instanceof WqError)) throw new Error(`validation threw a non-WqError: ${String(err)}`);
    return true;
  }
}

/** Whether the program was asked for a JSON document (as its parser understood the argv). */
function jsonMode(argv: string[]): boolean {
  try {
    const p = parseCommandLine(argv, { stdout: () => undefined, stderr: () => undefined, stdinIsTTY: false });
    return 'help' in p ? p.json : p.options.json;
  } catch {
    return argv.includes('--json');
  }
}

function assertNoCrash(argv: string[], r: { code: number; stdout: string; stderr: string }): void {
  assert.ok(KNOWN_EXITS.has(r.code), `exit ${r.code} for ${JSON.stringify(argv)}`);
  assert.doesNotMatch(r.stderr, /Internal error/, `internal error for ${JSON.stringify(argv)}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+\)?\n/, 'no stack trace');
  // --json: one document on stdout (the help text is then in its result)
  if (jsonMode(argv)) {
    const lastLine = r.stdout.trim().split('\n').pop()!;
    const doc = JSON.parse(lastLine) as { exitCode: number; errors: Array<{ kind: string }> };
    assert.equal(doc.exitCode, r.code);
    assert.ok(
      doc.errors.every((e) => e.kind !== 'internal'),
      JSON.stringify(doc.errors),
    );
  }
}

const qubeArb = fc.oneof(
  fc.constantFrom(
    'work',
    'personal',
    'vault',
    'dom0',
    'sys-net',
    'disp42',
    '',
    '1bad',
    'a'.repeat(32),
    'none',
    '..',
    'x y',
    '-work',
    '--json',
    'wörk',
    'work\n',
  ),
  fc.stringMatching(/^[a-z][a-z0-9_.-]{0,33}$/),
  fc.string({ maxLength: 24 }),
);
const valueArb = fc.oneof(
  fc.constantFrom(
    '',
    'file:/x',
    `file:${dir}/archive`,
    'ssh://h/p',
    '20250101-000000',
    '20250101-000000,20250301-000000',
    'newest',
    '^tag',
    'on',
    'off',
    'full',
    'json',
    'x',
    '-1',
    '61',
    '5',
    'netvm::x',
    'NAME::x',
    'encrypt=off',
    'passcmd=rm -rf /',
    '--dest=file:/y',
    'nightly',
    'weekly',
    'monthly',
    'vm-pool',
    '../x',
    '/etc/passwd',
  ),
  fc.string({ maxLength: 30 }),
);
const OPTIONS_WITH_VALUE = [
  '--dest',
  '--authmin',
  '--session',
  '--exclude',
  '--autoprune',
  '--pref',
  '--pool',
  '-p',
  '--wyngopt',
  '-w',
  '--include-disposable',
  '--meta-dir',
  '--profile',
  '--progress',
  '--wyng',
];
const FLAGS = [
  '-d',
  '--dedup',
  '-i',
  '--includes',
  '--check-after-send',
  '--all-before',
  '--all',
  '--pool-info',
  '--no-snapshot-restore',
  '--no-auto-rename',
  '--no-qubes-post',
  '--remap',
  '--force-incomplete',
  '-u',
  '--unattended',
  '--verbose',
  '--debug',
  '--json',
  '--dry-run',
  '--ignore-missing',
  '--last',
  '-h',
  '--help',
  '--version',
  '--nope',
  '-x',
  '--',
  '-',
];
const tokenArb: fc.Arbitrary<string[]> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...OPTIONS_WITH_VALUE), valueArb)
      .map(([o, v]) => (o === '--wyng' ? [o, v === '' ? stub : `/nonexistent/${v}`] : [o, v])),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...OPTIONS_WITH_VALUE.filter((o) => o.startsWith('--') && o !== '--wyng')), valueArb)
      .map(([o, v]) => [`${o}=${v}`]),
  },
  { weight: 3, arbitrary: fc.constantFrom(...FLAGS).map((f) => [f]) },
  { weight: 3, arbitrary: qubeArb.map((q) => [q]) },
);
const argvArb: fc.Arbitrary<string[]> = fc
  .tuple(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...COMMANDS) },
      { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', 'Backup', 'help', 'rm'), fc.string({ maxLength: 12 })) },
    ),
    fc.array(tokenArb, { maxLength: 6 }),
    fc.nat({ max: 6 }),
    fc.boolean(),
  )
  .map(([cmd, tokens, at, json]) => {
    const flat = tokens.flat();
    const argv = [...flat.slice(0, at), cmd, ...flat.slice(at)];
    return json && !argv.includes('--json') ? [...argv, '--json'] : argv;
  });

test(
  'fuzz: 10,000 command lines — an exit code and a typed error, never a crash; ' +
    'refused input reaches no program and no qubesd',
  { timeout: 900_000 },
  async () => {
    let refused = 0;
    let ran = 0;
    await fc.assert(
      fc.asyncProperty(argvArb, async (argv) => {
        const invalid = refusedByValidation(argv);
        const calls = programCalls();
        const conns = qubesdConnections;
        const r = await run(argv);
        assertNoCrash(argv, r);
        if (invalid) {
          refused += 1;
          assert.equal(r.code, 9, `refused input exits 9: ${JSON.stringify(argv)} → ${r.code} ${r.stderr}`);
          assert.equal(programCalls(), calls, `no program ran for ${JSON.stringify(argv)}`);
          assert.equal(qubesdConnections, conns, `no qubesd call for ${JSON.stringify(argv)}`);
        } else {
          ran += 1;
        }
      }),
      { numRuns: 10_000, seed: SEED },
    );
    assert.ok(refused > 3000, `enough refused command lines (${refused})`);
    assert.ok(ran > 1000, `enough accepted command lines (${ran})`);
    // the stub and the socket do see what valid command lines run (the counters can count)
    assert.ok(programCalls() > 0 && qubesdConnections > 0, `programs ${programCalls()}, qubesd ${qubesdConnections}`);
  },
);

const VALID_PROFILES_FOR_MUTATION = PROFILES;
const profilesTextArb: fc.Arbitrary<string> = fc.oneof(
  fc
    .array(
      fc.record({
        at: fc.nat(),
        len: fc.nat({ max: 20 }),
        text: fc.oneof(
          fc.string({ maxLength: 8 }),
          fc.constantFrom(':', '\n', '- ', '[', ']', '{', '}', '&a ', '*a', 'dest: ', 'dom0', '!!binary ', '\t'),
        ),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let s = VALID_PROFILES_FOR_MUTATION;
      for (const e of edits) {
        const at = e.at % (s.length + 1);
        s = s.slice(0, at) + e.text + s.slice(Math.min(s.length, at + e.len));
      }
      return s;
    }),
  fc.string({ maxLength: 200 }),
);

test(
  'fuzz: 1,500 profiles.yaml damaged in the profile used or as a whole, through `--profile` — ' +
    'refused with a config error before any program or qubesd call',
  { timeout: 600_000 },
  async () => {
    const etc = join(dir, 'etc-fuzz');
    mkdirSync(etc, { recursive: true });
    let invalid = 0;
    await fc.assert(
      fc.asyncProperty(
        profilesTextArb,
        fc.constantFrom('backup', 'restore', 'verify', 'list', 'prune'),
        async (text, command) => {
          writeFileSync(join(etc, 'profiles.yaml'), text, { mode: 0o600 });
          const reading = readProfiles(etc);
          // Validated per profile: damage elsewhere in the file leaves 'nightly' usable (issue 16).
          const usable =
            Object.hasOwn(reading.profiles, 'nightly') &&
            !reading.problems.some((p) => p.profile === undefined || p.profile === 'nightly');
          fc.pre(!usable);
          invalid += 1;
          const calls = programCalls();
          const conns = qubesdConnections;
          let stdout = '';
          let stderr = '';
          const code = await runCli([command, '--profile', 'nightly', '--session', '20250101-000000', '--json'], {
            stdout: (t) => void (stdout += t),
            stderr: (t) => void (stderr += t),
            stdinIsTTY: false,
            wyngStdin: 'ignore',
            env: { ...env(), WYNG_QUBES_CONFIG_DIR: etc },
            confirm: async () => false,
            readStdin: async () => Buffer.from(''),
          });
          assertNoCrash([command, '--json'], { code, stdout, stderr });
          assert.equal(code, 9, stderr);
          const doc = JSON.parse(stdout) as { errors: Array<{ kind: string; message: string }> };
          assert.equal(doc.errors[0]!.kind, 'config');
          assert.match(doc.errors[0]!.message, /profiles|profile 'nightly'|Unknown profile/);
          assert.equal(programCalls(), calls, 'no program ran');
          assert.equal(qubesdConnections, conns, 'no qubesd call');
        },
      ),
      { numRuns: 1_500, seed: SEED },
    );
    assert.ok(invalid >= 1_500);
  },
);
