// The one sandbox every e2e test, the reliability suites, the demo and the benchmarks run in:
// private config/state/temp dirs, the fake Wyng (test/fakes/wyng, behind a small wrapper that
// can record what wyng-qubes handed it), optionally the fake qubesd seeded from a real
// qubes.xml (volumes as real files below the sandbox) and an archive, and the environment that
// points wyng-qubes at all of it. Nothing in src/ knows about it.
//
//   buildSandbox()                                     lab scenario qubesd, no archive yet
//   buildSandbox({ archive: 'create' })                ... and an empty unencrypted archive
//   buildSandbox({ archive: { copyFrom: dir } })       ... and a copy of a prepared archive
//   buildSandbox({ qubesd: false, archive: { seed } }) no qubesd; an archive made by fake Wyng sends
//                                                      (encrypted with `passphrase` if given)
//   buildSandbox({ profiles: (sb) => `profiles: …` })  profiles.yaml (mode 600) in the config dir
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { WqError } from '../../src/core/errors.ts';
import { startFakeQubesd, type CallLogEntry, type FakeQubesd, type FakeQubesdOptions } from '../fakes/qubesd/index.ts';
import { BUNDLE, FAKE_WYNG, FAKE_WYNG_LOOSE, ROOT, type CliRun } from './cli.ts';
import { makeTgz } from './tarball.ts';

/**
 * A realistic system recorded from the real qubesd 4.4 lab (test/data/qubesd/qubes.xml):
 * a template, sys-net with a PCI device, sys-firewall, a disposable template and a named
 * disposable, app qubes in two pools, a standalone, a clone.
 */
export const SCENARIO_QUBES_XML = join(ROOT, 'test', 'fixtures', 'qubes-xml', 'lab-scenario.xml');
export const RECORDER = join(ROOT, 'test', 'fixtures', 'schedule', 'record-stdin.mjs');

/** A Wyng session made by fake Wyng sends (no qubesd needed): private volumes of `qubes`. */
export interface SeedSession {
  /** the send's time (WYNG_FAKE_NOW, UTC): names the session */
  at: string;
  qubes: string[];
}

export interface SandboxOptions {
  /** the fake qubesd (default: the lab scenario, 256 KiB volumes); false: none (its socket leads nowhere) */
  qubesd?: Partial<FakeQubesdOptions> | false;
  /** the archive at `archiveUrl`: none (default), `create`d through wyng-qubes, copied, or seeded */
  archive?: 'create' | { copyFrom: string } | { seed: SeedSession[]; passphrase?: string };
  /** profiles.yaml (mode 600); as a function it gets the sandbox (for archiveUrl, recorder, dir) */
  profiles?: string | ((sb: Sandbox) => string);
  /** more environment for every run (e.g. WYNG_QUBES_LOCK_TIMEOUT_MS) */
  env?: Record<string, string>;
  /** keep the directory after stop() */
  keep?: boolean;
}

/** One logged fake-Wyng process (WYNG_FAKE_LOG). */
export interface WyngCall {
  argv: string[];
  cwd: string;
  exitCode: number | null;
  signal: string | null;
  pid: number;
  time: string;
}

export interface JsonEnvelope {
  ok: boolean;
  exitCode: number;
  command: string;
  result: unknown;
  errors: Array<{ qube?: string; kind: string; message: string }>;
}

/** What the Wyng wrapper saw per Wyng action (send, list, arch-check …) of the last run. */
export interface Captured {
  /** the --local-from JSON as Wyng got it */
  localFrom(action?: string): Record<string, Array<[string, string]>> | undefined;
  /** path of a copy of the metadata tar Wyng got via --import-other-from */
  metadataTar(action?: string): string | undefined;
  /** mode (octal text) of the directory holding the --local-from file */
  tmpDirMode(action?: string): string | undefined;
  tmpDir(action?: string): string | undefined;
  /** a `.error` file next to --local-from existed when Wyng started */
  staleErrorAtStart(action?: string): boolean;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** another build of the CLI (e.g. TEST_HOOKS_BUNDLE, with the test-only crash hook) */
  bundle?: string;
  stdin?: string;
  cwd?: string;
  /** called with the child right after it started (to send signals) */
  onSpawn?: (child: ChildProcess, out: { stdout: () => string; stderr: () => string }) => void;
}

export interface SandboxRun extends CliRun {
  /** the signal that ended the process (its code is then 128) */
  signal: NodeJS.Signals | null;
  json?: JsonEnvelope;
  /** the fake Wyng processes of this run, in order */
  wyng: WyngCall[];
  /** the Admin API calls of this run (none without qubesd) */
  qubesd: CallLogEntry[];
  captured: Captured;
  /** entries left in the sandbox's TMPDIR after the run */
  tmpLeft: string[];
}

export interface InProcessOptions {
  env?: Record<string, string | undefined>;
  /** attended run: stdin is a terminal and every confirmation gets this answer */
  confirm?: boolean;
  /** stderr is a terminal (the progress line) */
  stderrIsTTY?: boolean;
  stdin?: string | Uint8Array;
}

export interface Sandbox {
  dir: string;
  configDir: string;
  stateDir: string;
  /** qubesd's base dir (what /var/lib/qubes is on a real system) */
  qubesDir: string;
  /** the sandbox's TMPDIR (only wyng-qubes' own temp files land there) */
  tmpDir: string;
  /** where the Wyng wrapper records what a run handed Wyng (see `captured` of a run) */
  captureDir: string;
  archiveDir: string;
  archiveUrl: string;
  /** the environment of every run (wyng-qubes' locations, the fake Wyng's) */
  env: Record<string, string>;
  /** the fake qubesd (throws in a sandbox without one) */
  readonly qubesd: FakeQubesd;
  /** the built bundle as a separate process (what users, timers and qrexec run) */
  run(args: string[], opts?: RunOptions): Promise<SandboxRun>;
  /** the program in-process (src/), with the sandbox's environment */
  cli(args: string[], opts?: InProcessOptions): Promise<CliRun & { json?: JsonEnvelope }>;
  /** runs the fake Wyng directly against the sandbox's archive (no wyng-qubes) */
  fakeWyng(args: string[], env?: Record<string, string>): Promise<CliRun>;
  /** every fake-Wyng process so far */
  wyngCalls(): WyngCall[];
  /** the bytes of one archive volume in one session (fake Wyng receive --save-to) */
  receive(volume: string, session: string): Promise<Buffer>;
  /** `wyng --json list` of the fake: volume → session ids (without S_) */
  archiveVolumes(): Promise<Record<string, string[]>>;
  /** writes a recognisable pattern into a qube's volume image and returns it */
  fill(qube: string, volume: string, seed: string, size?: number): Buffer;
  /** writes the fake qubesd's state to qubes.xml in the Qubes dir (the fake also does so after each change) */
  syncQubesXml(): void;
  writeProfiles(yaml: string): void;
  auditLines(): Array<Record<string, unknown>>;
  reportFiles(): string[];
  reports(): Array<Record<string, unknown>>;
  /** A command (YAML flow list) that appends what it got to `dir/NAME.log`; mode "fail"/"sleep". */
  recorder(name: string, mode?: 'fail' | 'sleep'): string;
  /** What the recorder NAME (or the desktop notifier, `desktop`) got, one entry per call. */
  recorded(name: string): Array<{ args: string[]; env: Record<string, string>; stdin: string }>;
  stop(): Promise<void>;
}

/**
 * The fake qubesd's API generation for suites that run in both modes: WQ_E2E_QUBESD_API=4.2 or
 * 4.3 (default). CI runs the restore e2e files that touch devices and settings once per mode.
 */
export function e2eQubesdApi(): '4.2' | '4.3' {
  const v = process.env.WQ_E2E_QUBESD_API ?? '4.3';
  if (v !== '4.2' && v !== '4.3') throw new Error(`WQ_E2E_QUBESD_API must be 4.2 or 4.3, not '${v}'`);
  return v;
}

export function pattern(seed: string, size = 256 * 1024): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i + 64 <= buf.length; i += 64) buf.write(`${seed}:${i};`, i);
  return buf;
}

/**
 * The Wyng wyng-qubes runs: records, per Wyng action, the --local-from file, the metadata tar and
 * the temp dir's mode (when CAPTURE_DIR is set), then execs the fake Wyng with this test's node
 * (same pid: signals reach the fake directly; the qrexec services reset PATH, where node may not
 * be). CAPTURE_FAIL_<ACTION> sets WYNG_FAKE_FAIL for that action only; CAPTURE_DELAY_<ACTION>
 * sets WYNG_FAKE_DELAY_MS; CAPTURE_PLANT_STALE writes that text as `volumes.json.error` into every
 * wyng-qubes temp dir below $TMPDIR during `list` (a stale error file, as if left by an earlier
 * run). CAPTURE_HANG_LIST_AFTER_SEND makes a `list` after the send hang (until a signal) and marks
 * its start with `list-after-send.started` in the capture dir. CAPTURE_MARK=FILE appends FILE's
 * content (`-` when there is none) to FILE.seen at each call (to see what a hook did before Wyng);
 * WYNG_TEST_CAPTURE_ENV_NAMES=FILE appends the names of the call's environment variables (one line a call;
 * WYNG_TEST_: the privileged part of the RPC services passes on only WYNG_* variables).
 */
function wrapperScript(): string {
  return `#!/bin/sh
action=
for a in "$@"; do case "$a" in -*) ;; *) action=$a; break ;; esac; done
key=$(printf '%s' "$action" | tr 'a-z-' 'A-Z_')
if [ -n "$CAPTURE_DIR" ]; then
  mkdir -p "$CAPTURE_DIR"
  for a in "$@"; do
    case "$a" in
      --local-from=*)
        f="\${a#--local-from=}"
        cp "$f" "$CAPTURE_DIR/$action.local-from.json"
        if [ -e "$f.error" ]; then echo stale > "$CAPTURE_DIR/$action.stale-error"; fi
        d=$(dirname "$f")
        printf '%s' "$d" > "$CAPTURE_DIR/$action.tmpdir"
        stat -c %a "$d" > "$CAPTURE_DIR/$action.tmpdir-mode"
        ;;
      --import-other-from=*)
        cp "\${a#*:[|]:}" "$CAPTURE_DIR/$action.metadata.tgz"
        ;;
    esac
  done
fi
if [ "$action" = list ] && [ -n "$CAPTURE_PLANT_STALE" ] && [ -n "$TMPDIR" ]; then
  for d in "$TMPDIR"/wyng-qubes-*; do
    [ -d "$d" ] && printf '%s' "$CAPTURE_PLANT_STALE" > "$d/volumes.json.error"
  done
fi
if [ -n "$WYNG_TEST_CAPTURE_ENV_NAMES" ]; then
  env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p' | sort | tr '\\n' ' ' >> "$WYNG_TEST_CAPTURE_ENV_NAMES"
  echo >> "$WYNG_TEST_CAPTURE_ENV_NAMES"
fi
if [ -n "$CAPTURE_MARK" ]; then
  { cat "$CAPTURE_MARK" 2>/dev/null || echo -; } >> "$CAPTURE_MARK.seen"
fi
eval "fail=\\\${CAPTURE_FAIL_$key:-}"
eval "delay=\\\${CAPTURE_DELAY_$key:-}"
if [ -n "$fail" ]; then export WYNG_FAKE_FAIL="$fail"; fi
if [ -n "$delay" ]; then export WYNG_FAKE_DELAY_MS="$delay"; fi
if [ "$action" = list ] && [ -n "$CAPTURE_HANG_LIST_AFTER_SEND" ] && [ -e "$CAPTURE_DIR/send.local-from.json" ]; then
  : > "$CAPTURE_DIR/list-after-send.started"
  export WYNG_FAKE_FAIL=hang
fi
exec ${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE_WYNG)} "$@"
`;
}

/** notify-send stand-in: one JSON line per call (its argv and session environment) in desktop.log. */
function notifySendScript(log: string): string {
  return [
    `#!${process.execPath}`,
    "const { appendFileSync } = require('node:fs');",
    'const env = { DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS ?? null };',
    `const entry = JSON.stringify({ args: process.argv.slice(2), env, stdin: '' });`,
    `appendFileSync(${JSON.stringify(log)}, entry + '\\n');`,
    'if (process.env.NOTIFY_FAIL) process.exit(1);',
    '',
  ].join('\n');
}

function spawnRun(
  file: string,
  argv: string[],
  env: Record<string, string | undefined>,
  opts: RunOptions = {},
): Promise<CliRun & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
      cwd: opts.cwd ?? ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal !== null ? 128 : -1), signal, stdout, stderr }),
    );
    child.stdin.end(opts.stdin ?? '');
    opts.onSpawn?.(child, { stdout: () => stdout, stderr: () => stderr });
  });
}

function readJsonLines<T>(path: string): T[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as T)
    : [];
}

function envelope(stdout: string): JsonEnvelope | undefined {
  try {
    return JSON.parse(stdout) as JsonEnvelope;
  } catch {
    return undefined;
  }
}

/** Sends one seeded session with the fake Wyng, as a backup would (tag, metadata volume). */
function seedSession(sb: Sandbox, s: SeedSession, index: number, passphrase: string | undefined): void {
  const pool = join(sb.dir, 'seed-pool');
  const list: Array<[string, string]> = [];
  for (const q of s.qubes) {
    const vol = `appvms/${q}/private.img`;
    mkdirSync(join(pool, 'appvms', q), { recursive: true });
    writeFileSync(join(pool, vol), pattern(`${q}@${s.at}`, 64 * 1024));
    list.push([vol, vol]);
  }
  const localFrom = join(sb.dir, `seed-${index}.json`);
  writeFileSync(localFrom, JSON.stringify({ [pool]: list }));
  const tar = join(sb.dir, `seed-${index}.tgz`);
  writeFileSync(tar, makeTgz([{ name: 'qubes.xml', data: readFileSync(SCENARIO_QUBES_XML) }]));
  const r = spawnSync(
    process.execPath,
    [
      FAKE_WYNG,
      `--dest=${sb.archiveUrl}`,
      '-u',
      `--local-from=${localFrom}`,
      '--tag=qubes',
      '--send-unchanged',
      `--import-other-from=wyng-qubes-metadata:|:${tar}`,
      ...(passphrase !== undefined ? ['--passcmd=printenv SEED_PASSPHRASE'] : []),
      'send',
    ],
    {
      env: {
        PATH: process.env.PATH,
        SEED_PASSPHRASE: passphrase,
        TZ: 'UTC',
        WYNG_FAKE_NOW: s.at,
        WYNG_FAKE_LOCK: sb.env.WYNG_FAKE_LOCK,
        WYNG_FAKE_HOME: sb.env.WYNG_FAKE_HOME,
        ...FAKE_WYNG_LOOSE,
      },
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`seeding the archive failed (${r.status}): ${r.stderr}`);
}

const leftOver = new Set<string>();
let cleanupRegistered = false;

/** Sandboxes not stopped are removed when the test process ends (kept with WYNG_QUBES_KEEP_TEST_DIRS=1). */
function track(dir: string): void {
  leftOver.add(dir);
  if (cleanupRegistered || process.env.WYNG_QUBES_KEEP_TEST_DIRS === '1') return;
  cleanupRegistered = true;
  process.once('exit', () => {
    for (const d of leftOver) rmSync(d, { recursive: true, force: true });
  });
}

export async function buildSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const dir = mkdtempSync(join(tmpdir(), 'wq-sb-'));
  if (!opts.keep) track(dir);
  const root = join(dir, 'root');
  const qubesDir = join(root, 'var', 'lib', 'qubes');
  const configDir = join(dir, 'etc');
  const stateDir = join(dir, 'state');
  const tmpDir = join(dir, 'tmp');
  const archiveDir = join(dir, 'archive');
  const captureDir = join(dir, 'capture');
  for (const d of [qubesDir, configDir, tmpDir]) mkdirSync(d, { recursive: true });
  let qubesd: FakeQubesd | undefined;
  try {
    if (opts.qubesd !== false) {
      qubesd = await startFakeQubesd({
        qubesXml: SCENARIO_QUBES_XML,
        socketPath: join(dir, 'qubesd.sock'),
        volumeFileSize: 256 * 1024,
        api: e2eQubesdApi(),
        ...opts.qubesd,
        poolsDir: root,
      });
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const wrapper = join(dir, 'wyng');
  writeFileSync(wrapper, wrapperScript(), { mode: 0o755 });
  const notifySend = join(dir, 'notify-send');
  writeFileSync(notifySend, notifySendScript(join(dir, 'desktop.log')), { mode: 0o755 });
  const wyngLog = join(dir, 'wyng-calls.jsonl');
  const env: Record<string, string> = {
    WYNG_QUBES_QUBESD_SOCKET: qubesd?.socketPath ?? join(dir, 'no-qubesd.sock'),
    WYNG_QUBES_QUBES_DIR: qubesDir,
    WYNG_QUBES_STATE_DIR: stateDir,
    WYNG_QUBES_CONFIG_DIR: configDir,
    WYNG_QUBES_WYNG: wrapper,
    WYNG_QUBES_RPC_SUDO: '0',
    // the job lock and the RPC slot files of this sandbox, not the machine's /run/lock
    WYNG_QUBES_LOCK_DIR: dir,
    WYNG_QUBES_NOTIFY_SEND: notifySend,
    WYNG_QUBES_DESKTOP_USER: userInfo().username,
    WYNG_FAKE_LOCK: join(dir, 'wyng.lock'),
    WYNG_FAKE_LOG: wyngLog,
    // the fake's key agents and cache live outside TMPDIR, so TMPDIR shows only our files
    WYNG_FAKE_HOME: join(dir, 'fake-home'),
    TMPDIR: tmpDir,
    // the documented loosening (a normal user sends; plain temp-dir pools count as Btrfs subvolumes)
    ...FAKE_WYNG_LOOSE,
    ...opts.env,
  };
  const baseEnv = (): Record<string, string | undefined> => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: process.env.TZ,
    ...env,
  });
  const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);
  const captured: Captured = {
    localFrom: (a = 'send') => {
      const t = read(join(captureDir, `${a}.local-from.json`));
      return t === undefined ? undefined : (JSON.parse(t) as Record<string, Array<[string, string]>>);
    },
    metadataTar: (a = 'send') => {
      const p = join(captureDir, `${a}.metadata.tgz`);
      return existsSync(p) ? p : undefined;
    },
    tmpDirMode: (a = 'send') => read(join(captureDir, `${a}.tmpdir-mode`))?.trim(),
    tmpDir: (a = 'send') => read(join(captureDir, `${a}.tmpdir`)),
    staleErrorAtStart: (a = 'send') => existsSync(join(captureDir, `${a}.stale-error`)),
  };
  const fakeWyng = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> =>
    spawnRun(
      process.execPath,
      [FAKE_WYNG, `--dest=${sb.archiveUrl}`, '-u', ...args],
      { ...baseEnv(), ...extra },
      {
        cwd: dir,
      },
    );

  const sb: Sandbox = {
    dir,
    configDir,
    stateDir,
    qubesDir,
    tmpDir,
    captureDir,
    archiveDir,
    archiveUrl: `file:${archiveDir}`,
    env,
    get qubesd(): FakeQubesd {
      if (qubesd === undefined) throw new Error('this sandbox has no fake qubesd (buildSandbox({ qubesd: false }))');
      return qubesd;
    },
    async run(args, runOpts = {}) {
      sb.syncQubesXml();
      rmSync(captureDir, { recursive: true, force: true });
      const wyngBefore = sb.wyngCalls().length;
      const qubesdBefore = qubesd?.callLog.length ?? 0;
      const r = await spawnRun(
        process.execPath,
        [runOpts.bundle ?? BUNDLE, ...args],
        { ...baseEnv(), CAPTURE_DIR: captureDir, ...runOpts.env },
        runOpts,
      );
      const json = args.includes('--json') ? envelope(r.stdout) : undefined;
      return {
        ...r,
        ...(json !== undefined ? { json } : {}),
        wyng: sb.wyngCalls().slice(wyngBefore),
        qubesd: qubesd?.callLog.slice(qubesdBefore) ?? [],
        captured,
        tmpLeft: readdirSync(tmpDir),
      };
    },
    async cli(args, runOpts = {}) {
      sb.syncQubesXml();
      let stdout = '';
      let stderr = '';
      const input = runOpts.stdin ?? '';
      const bytes = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input);
      const io: CliIo = {
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
        stdinIsTTY: runOpts.confirm !== undefined,
        ...(runOpts.stderrIsTTY === true ? { stderrIsTTY: true } : {}),
        wyngStdin: 'ignore',
        env: { ...baseEnv(), ...runOpts.env },
        confirm: async () => runOpts.confirm ?? false,
        readStdin: async (limit) => {
          if (limit !== undefined && bytes.length > limit)
            throw new WqError('input', `request larger than ${limit} bytes`);
          return bytes;
        },
      };
      const code = await runCli(args, io);
      const json = args.includes('--json') ? envelope(stdout) : undefined;
      return { code, stdout, stderr, ...(json !== undefined ? { json } : {}) };
    },
    fakeWyng,
    wyngCalls: () => readJsonLines<WyngCall>(wyngLog),
    async receive(volume, session) {
      const out = join(dir, `received-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      const r = await fakeWyng(['--quiet', `--save-to=${out}`, `--session=${session}`, 'receive', volume]);
      if (r.code !== 0) throw new Error(`fake Wyng receive ${volume}@${session} failed (${r.code}): ${r.stderr}`);
      const data = readFileSync(out);
      rmSync(out, { force: true });
      return data;
    },
    async archiveVolumes() {
      const r = await fakeWyng(['--json', 'list']);
      if (r.code !== 0) throw new Error(`fake Wyng list failed (${r.code}): ${r.stderr}`);
      const doc = JSON.parse(r.stdout.slice(r.stdout.indexOf('\n{') + 1)) as {
        volumes: Record<string, { sessions: Record<string, unknown> }>;
      };
      return Object.fromEntries(
        Object.entries(doc.volumes).map(([v, i]) => [v, Object.keys(i.sessions).map((s) => s.slice(2))]),
      );
    },
    fill(qube, volume, seed, size = 256 * 1024) {
      const path = sb.qubesd.volumePath(qube, volume);
      if (path === undefined) throw new Error(`${qube} has no ${volume} volume file`);
      const buf = pattern(seed, size);
      writeFileSync(path, buf);
      return buf;
    },
    syncQubesXml: () => {
      if (qubesd !== undefined) writeFileSync(join(qubesDir, 'qubes.xml'), qubesd.dumpQubesXml());
    },
    writeProfiles: (yaml) => {
      const file = join(configDir, 'profiles.yaml');
      writeFileSync(file, yaml, { mode: 0o600 });
      chmodSync(file, 0o600);
    },
    auditLines: () => readJsonLines<Record<string, unknown>>(join(stateDir, 'audit.log')),
    reportFiles: () => (existsSync(join(stateDir, 'reports')) ? readdirSync(join(stateDir, 'reports')).sort() : []),
    reports: () =>
      sb
        .reportFiles()
        .map((f) => JSON.parse(readFileSync(join(stateDir, 'reports', f), 'utf8')) as Record<string, unknown>),
    recorder: (name, mode) =>
      JSON.stringify([process.execPath, RECORDER, join(dir, `${name}.log`), ...(mode !== undefined ? [mode] : [])]),
    recorded: (name) => readJsonLines(join(dir, `${name}.log`)),
    async stop() {
      await qubesd?.stop();
      leftOver.delete(dir);
      if (!opts.keep && process.env.WYNG_QUBES_KEEP_TEST_DIRS !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    const archive = opts.archive;
    if (archive === 'create') {
      const created = await sb.run(['create', '--dest', sb.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
      if (created.code !== 0) throw new Error(`create failed (${created.code}): ${created.stderr}`);
    } else if (archive !== undefined && 'copyFrom' in archive) {
      cpSync(archive.copyFrom, archiveDir, { recursive: true });
    } else if (archive !== undefined) {
      const { passphrase } = archive;
      const init = await fakeWyng(
        passphrase === undefined ? ['--encrypt=off', 'arch-init'] : ['--passcmd=printenv SEED_PASSPHRASE', 'arch-init'],
        passphrase === undefined ? {} : { SEED_PASSPHRASE: passphrase },
      );
      if (init.code !== 0) throw new Error(`arch-init failed (${init.code}): ${init.stderr}`);
      archive.seed.forEach((s, i) => seedSession(sb, s, i, passphrase));
    }
    rmSync(wyngLog, { force: true }); // wyngCalls() shows the tests' calls only, not the setup's
    if (opts.profiles !== undefined)
      sb.writeProfiles(typeof opts.profiles === 'string' ? opts.profiles : opts.profiles(sb));
  } catch (err) {
    await sb.stop();
    throw err;
  }
  return sb;
}
