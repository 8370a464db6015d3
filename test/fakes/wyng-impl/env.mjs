// Everything the fake reads from its environment: the clock, the machine-wide paths and the
// fault switches. See ../README.md for the meaning of each variable.
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { realpathSync } from 'node:fs';

const env = process.env;

/** A configuration mistake in the WYNG_FAKE_* variables: the fake refuses to run (exit 1). */
export class FakeConfigError extends Error {}

// ---- clock ---------------------------------------------------------------------------------
// Like libfaketime's "@DATE": the clock starts at WYNG_FAKE_NOW and then runs normally.

const startMono = performance.now();
const startReal = (performance.timeOrigin + startMono) / 1000;

function parseNow(text) {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new FakeConfigError(`WYNG_FAKE_NOW is neither epoch seconds nor a date: '${text}'`);
  return ms / 1000;
}

let startSeconds = startReal;
export function initClock() {
  if (env.WYNG_FAKE_NOW !== undefined && env.WYNG_FAKE_NOW !== '') startSeconds = parseNow(env.WYNG_FAKE_NOW);
}

/** Epoch seconds (float) when this process started: the session name of a send. */
export function startTime() {
  return startSeconds;
}

/** Current epoch seconds (float). */
export function now() {
  return startSeconds + (performance.now() - startMono) / 1000;
}

// ---- machine-wide paths --------------------------------------------------------------------

const uid = typeof process.getuid === 'function' ? process.getuid() : 0;

/** Per-user state of the fake outside any archive: key agents and the metadata cache. */
export function fakeHome() {
  return resolve(env.WYNG_FAKE_HOME || join(tmpdir(), `wyng-fake-${uid}`));
}

/** The machine-wide lock file (Wyng: /var/lock/wyng). */
export function lockPath() {
  return resolve(env.WYNG_FAKE_LOCK || join(tmpdir(), 'wyng-fake.lock'));
}

export function userId() {
  return uid;
}

// ---- fault switches ------------------------------------------------------------------------

function canonical(p) {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Parses WYNG_FAKE_FAIL (comma list). Unknown items are a configuration error. */
export function parseFaults() {
  const f = {
    sendVolumes: new Set(),
    receiveVolumes: new Set(),
    verifyVolumes: new Set(),
    noSnapshot: new Set(),
    auth: false,
    storage5: false,
    storage6: false,
    storage7: false,
    crash: false,
    hang: false,
    hold: undefined,
    nonroot: false,
    interruptAfter: undefined,
  };
  const raw = env.WYNG_FAKE_FAIL ?? '';
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const colon = item.indexOf(':');
    const key = colon < 0 ? item : item.slice(0, colon);
    const arg = colon < 0 ? undefined : item.slice(colon + 1);
    const needArg = () => {
      if (arg === undefined || arg === '')
        throw new FakeConfigError(`WYNG_FAKE_FAIL item '${item}' needs a value after ':'`);
      return arg;
    };
    switch (key) {
      case 'send-volume':
        f.sendVolumes.add(needArg());
        break;
      case 'receive-volume':
        f.receiveVolumes.add(needArg());
        break;
      case 'verify-volume':
        f.verifyVolumes.add(needArg());
        break;
      case 'no-snapshot':
        f.noSnapshot.add(canonical(needArg()));
        break;
      case 'hold':
        f.hold = needArg();
        break;
      case 'interrupt-after': {
        const n = Number(needArg());
        if (!Number.isInteger(n) || n < 0)
          throw new FakeConfigError(`WYNG_FAKE_FAIL interrupt-after needs a count, got '${arg}'`);
        f.interruptAfter = n;
        break;
      }
      case 'auth':
      case 'storage5':
      case 'storage6':
      case 'storage7':
      case 'crash':
      case 'hang':
      case 'nonroot':
        if (arg !== undefined) throw new FakeConfigError(`WYNG_FAKE_FAIL item '${key}' takes no value`);
        f[key] = true;
        break;
      default:
        throw new FakeConfigError(`unknown WYNG_FAKE_FAIL item '${item}'`);
    }
  }
  return f;
}

/** Milliseconds to spend on each volume of a send/receive/verify (WYNG_FAKE_DELAY_MS). */
export function volumeDelayMs() {
  const v = env.WYNG_FAKE_DELAY_MS;
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new FakeConfigError(`WYNG_FAKE_DELAY_MS must be a number of milliseconds, got '${v}'`);
  return n;
}

/** WYNG_FAKE_STDIN_TTY=1: behave as if stdin were a terminal (attended mode, prompts read stdin). */
export function stdinIsTTY() {
  return env.WYNG_FAKE_STDIN_TTY === '1' || process.stdin.isTTY === true;
}

/**
 * Whether the caller counts as root/admin for the write commands. Like Wyng only root does, unless
 * WYNG_FAKE_ALLOW_NONROOT=1 loosens that (tests running the fake as a normal user).
 */
export function runsAsAdmin() {
  if (env.WYNG_FAKE_ALLOW_NONROOT === '1') return true;
  return typeof process.getuid !== 'function' || process.getuid() === 0;
}

/**
 * Whether any directory counts as a reflink pool (a Btrfs subvolume root, as Wyng needs for send):
 * only with WYNG_FAKE_ANY_POOL=1 (tests whose pools are plain temp directories).
 */
export function anyDirIsPool() {
  return env.WYNG_FAKE_ANY_POOL === '1';
}

export function logPath() {
  return env.WYNG_FAKE_LOG || undefined;
}

/** shutil.get_terminal_size().columns: COLUMNS, else the terminal, else 80. */
export function terminalColumns() {
  const c = Number(env.COLUMNS);
  if (Number.isInteger(c) && c > 0) return c;
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  return 80;
}

/**
 * Wyng finds its key agent in `ps` output, which ps truncates to $COLUMNS: the agent's
 * command line needs about 106 columns (design.md "Wyng contract", transcript e15b).
 */
export function agentVisible() {
  if (env.COLUMNS === undefined || env.COLUMNS === '') return true;
  const c = Number(env.COLUMNS);
  return !(Number.isFinite(c) && c > 0 && c < 106);
}
