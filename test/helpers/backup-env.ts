// What the backup e2e tests share: the simulator (fake qubesd + fake Wyng) with a recording
// Wyng wrapper in front of the fake, a private TMPDIR per run (to prove temp files go away),
// and direct calls of the fake Wyng (to build archives by hand and to receive volumes).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallLogEntry, FakeQubesdOptions } from '../fakes/qubesd/index.ts';
import { BUNDLE, FAKE_WYNG, ROOT, type CliRun } from './cli.ts';
import { startSimulator, type JsonEnvelope, type Simulator } from './sim.ts';

/** One logged fake-Wyng process (WYNG_FAKE_LOG). */
export interface WyngCall {
  argv: string[];
  cwd: string;
  exitCode: number | null;
  signal: string | null;
}

export interface BackupQube {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  volumes: string[];
  error?: string;
}

export interface BackupResultJson {
  session: string | null;
  qubes: BackupQube[];
  bytesSent?: number;
  seconds: number;
  timing?: { wyngMs: number; oursMs: number };
}

export interface BackupRun extends CliRun {
  json?: JsonEnvelope;
  /** the fake Wyng processes of this run, in order */
  wyng: WyngCall[];
  /** the Admin API calls of this run */
  qubesd: CallLogEntry[];
  /** what the wrapper saw per Wyng action (send, list, arch-check …) */
  captured: Captured;
  /** entries left in the run's TMPDIR after it ended */
  tmpLeft: string[];
}

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
  env?: Record<string, string>;
  cwd?: string;
  /** called with the child right after it started (to send signals) */
  onSpawn?: (child: ChildProcess, out: { stdout: () => string; stderr: () => string }) => void;
}

export interface BackupEnv {
  sim: Simulator;
  /** the wrapper script wyng-qubes runs as Wyng */
  wrapper: string;
  captureDir: string;
  tmpDir: string;
  run(args: string[], opts?: RunOptions): Promise<BackupRun>;
  /** runs the fake Wyng directly against the simulator's archive (no wyng-qubes) */
  fakeWyng(args: string[], env?: Record<string, string>): Promise<CliRun>;
  /** the bytes of one archive volume in one session (fake Wyng receive --save-to) */
  receive(volume: string, session: string): Promise<Buffer>;
  /** `list --json` through wyng-qubes */
  listJson(): Promise<ListJson>;
  /** `wyng --json list` of the fake: volume → session ids (without S_) */
  archiveVolumes(): Promise<Record<string, string[]>>;
  /** writes a recognisable pattern into a qube's volume image and returns it */
  fill(qube: string, volume: string, seed: string, size?: number): Buffer;
  stop(): Promise<void>;
}

export interface ListJson {
  sessions: Array<{ id: string; tags: Record<string, string>; qubes: string[] }>;
  qubes: Record<string, { sessions: string[]; newest: string }>;
}

/**
 * Records, per Wyng action, the --local-from file, the metadata tar and the temp dir's mode,
 * then execs the fake Wyng (same pid: signals reach the fake directly). CAPTURE_FAIL_<ACTION>
 * sets WYNG_FAKE_FAIL for that action only; CAPTURE_DELAY_<ACTION> sets WYNG_FAKE_DELAY_MS;
 * CAPTURE_PLANT_STALE writes that text as `volumes.json.error` into every wyng-qubes temp dir
 * below $TMPDIR during `list` (a stale error file, as if left by an earlier run).
 * CAPTURE_HANG_LIST_AFTER_SEND makes a `list` after the send hang (until a signal) and marks
 * its start with `list-after-send.started` in the capture dir.
 */
function wrapperScript(): string {
  return `#!/bin/sh
eval "action=\\\${$#}"
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
eval "fail=\\\${CAPTURE_FAIL_$key:-}"
eval "delay=\\\${CAPTURE_DELAY_$key:-}"
if [ -n "$fail" ]; then export WYNG_FAKE_FAIL="$fail"; fi
if [ -n "$delay" ]; then export WYNG_FAKE_DELAY_MS="$delay"; fi
if [ "$action" = list ] && [ -n "$CAPTURE_HANG_LIST_AFTER_SEND" ] && [ -e "$CAPTURE_DIR/send.local-from.json" ]; then
  : > "$CAPTURE_DIR/list-after-send.started"
  export WYNG_FAKE_FAIL=hang
fi
exec ${JSON.stringify(FAKE_WYNG)} "$@"
`;
}

function runProcess(
  file: string,
  argv: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  opts: RunOptions = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal !== null ? 128 : -1), stdout, stderr }));
    child.stdin.end('');
    opts.onSpawn?.(child, { stdout: () => stdout, stderr: () => stderr });
  });
}

export async function startBackupEnv(opts: Partial<FakeQubesdOptions> = {}): Promise<BackupEnv> {
  const sim = await startSimulator(opts);
  const wrapper = join(sim.dir, 'capture-wyng');
  writeFileSync(wrapper, wrapperScript());
  chmodSync(wrapper, 0o755);
  const captureDir = join(sim.dir, 'capture');
  const tmpDir = join(sim.dir, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const baseEnv = (): Record<string, string | undefined> => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: process.env.TZ,
    ...sim.env,
    WYNG_QUBES_WYNG: wrapper,
    CAPTURE_DIR: captureDir,
    TMPDIR: tmpDir,
    // the fake's key agents and cache live outside TMPDIR, so TMPDIR shows only our files
    WYNG_FAKE_HOME: join(sim.dir, 'fake-home'),
  });
  const logLines = (): WyngCall[] => {
    const p = sim.env.WYNG_FAKE_LOG!;
    if (!existsSync(p)) return [];
    return readFileSync(p, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as WyngCall);
  };
  const fakeWyng = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
    runProcess(FAKE_WYNG, [`--dest=${sim.archiveUrl}`, '-u', ...args], { ...baseEnv(), ...env }, sim.dir);
  const read = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);

  const env: BackupEnv = {
    sim,
    wrapper,
    captureDir,
    tmpDir,
    async run(args, runOpts = {}) {
      sim.syncQubesXml();
      rmSync(captureDir, { recursive: true, force: true });
      const wyngBefore = logLines().length;
      const qubesdBefore = sim.qubesd.callLog.length;
      const r = await runProcess(
        process.execPath,
        [BUNDLE, ...args],
        { ...baseEnv(), ...runOpts.env },
        runOpts.cwd ?? ROOT,
        runOpts,
      );
      let json: JsonEnvelope | undefined;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(r.stdout) as JsonEnvelope;
        } catch {
          json = undefined;
        }
      }
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
      return {
        ...r,
        ...(json !== undefined ? { json } : {}),
        wyng: logLines().slice(wyngBefore),
        qubesd: sim.qubesd.callLog.slice(qubesdBefore),
        captured,
        tmpLeft: readdirSync(tmpDir),
      };
    },
    fakeWyng,
    async receive(volume, session) {
      const out = join(sim.dir, `received-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      const r = await fakeWyng(['--quiet', `--save-to=${out}`, `--session=${session}`, 'receive', volume]);
      if (r.code !== 0) throw new Error(`fake Wyng receive ${volume}@${session} failed (${r.code}): ${r.stderr}`);
      const data = readFileSync(out);
      rmSync(out, { force: true });
      return data;
    },
    async listJson() {
      const r = await env.run(['list', '--dest', sim.archiveUrl, '-u', '--json']);
      if (r.code !== 0) throw new Error(`list failed (${r.code}): ${r.stderr}`);
      return r.json!.result as ListJson;
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
      const path = sim.qubesd.volumePath(qube, volume);
      if (path === undefined) throw new Error(`${qube} has no ${volume} volume file`);
      const buf = Buffer.alloc(size);
      for (let i = 0; i + 64 <= buf.length; i += 64) buf.write(`${seed}:${i};`, i);
      writeFileSync(path, buf);
      return buf;
    },
    stop: () => sim.stop(),
  };
  const created = await env.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
  if (created.code !== 0) throw new Error(`create failed (${created.code}): ${created.stderr}`);
  return env;
}

/** The JSON result of a backup run (throws when there is none). */
export function backupResult(r: BackupRun): BackupResultJson {
  if (r.json === undefined) throw new Error(`no JSON document on stdout (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  if (r.json.result === null)
    throw new Error(`null result (exit ${r.code}): ${JSON.stringify(r.json.errors)}\n${r.stderr}`);
  return r.json.result as BackupResultJson;
}

export function byName(result: BackupResultJson): Record<string, BackupQube> {
  return Object.fromEntries(result.qubes.map((q) => [q.name, q]));
}

/** Wyng calls of one action (the last argv element). */
export function wyngAction(calls: readonly WyngCall[], action: string): WyngCall[] {
  return calls.filter((c) => c.argv[c.argv.length - 1] === action);
}

/** The qubes whose `backup_timestamp` a run set (Admin API property writes), sorted. */
export function timestampWrites(calls: readonly CallLogEntry[]): string[] {
  return calls
    .filter((c) => c.method === 'admin.vm.property.Set' && c.arg === 'backup_timestamp')
    .map((c) => c.dest)
    .sort();
}
