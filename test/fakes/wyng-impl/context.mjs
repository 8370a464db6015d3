// Run state shared by all commands: output streams, Wyng's error classes and exit paths, the
// per-volume error list that turns into exit 2 and the `.error` file.
import { readSync } from 'node:fs';
import { pyJoin } from './pyfmt.mjs';

/** Wyng's own exception classes; each ends the run with `\nName: message\n` on stderr. */
export class WyngError extends Error {
  constructor(kind, message, code) {
    super(message);
    this.kind = kind;
    this.code = code;
  }
}
export const optionError = (m) => new WyngError('OptionError', m, 9);
export const inputError = (m) => new WyngError('InputError', m, 9);
export const selectionError = (m) => new WyngError('SelectionError', m, 9);
export const authError = (m) => new WyngError('AuthenticationError', m, 3);
export const storageError = (code, m) => new WyngError('StorageError', m, code);

/** x_it(code, text): message on stderr, then exit. */
export class Exit extends Error {
  constructor(code, text) {
    super(text ?? `exit ${code}`);
    this.code = code;
    this.text = text;
  }
}

/** An unhandled Python exception in Wyng: traceback on stderr, exit 1. */
export class PyCrash extends Error {
  constructor(pyType, pyMessage, where = 'main', note = undefined) {
    super(`${pyType}: ${pyMessage}`);
    this.pyType = pyType;
    this.pyMessage = pyMessage;
    this.where = where;
    /** PEP 678 note printed after the exception line */
    this.note = note;
  }
}

export class Ctx {
  constructor() {
    this.quiet = false;
    this.errorCache = [];
    this.options = undefined;
    this.archive = undefined;
    this.verbose = false;
  }

  /** Raw write to stdout (dropped under --quiet). */
  out(text) {
    if (!this.quiet && text !== '') process.stdout.write(text);
  }

  /** print(*args, end="\n") */
  print(...args) {
    this.out(`${pyJoin(...args)}\n`);
  }

  err(text) {
    if (text !== '') process.stderr.write(text);
  }

  /** err_out(text): text plus newline on stderr. */
  errOut(text) {
    this.err(`${text}\n`);
  }

  /** ask_input(prompt): prompt on stderr, one line from stdin; EOF is Python's EOFError. */
  ask(prompt) {
    this.err(prompt);
    const line = readLine();
    if (line === undefined) throw new PyCrash('EOFError', 'EOF when reading a line', 'ask_input');
    return line;
  }
}

/** Reads one line from stdin synchronously (without the newline); undefined at end of input. */
export function readLine() {
  const bytes = [];
  const one = Buffer.alloc(1);
  let sawAny = false;
  for (;;) {
    let n;
    try {
      n = readSync(0, one, 0, 1, null);
    } catch (e) {
      if (e && e.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      if (e && (e.code === 'EOF' || e.code === 'EBADF' || e.code === 'ENXIO')) n = 0;
      else throw e;
    }
    if (n === 0) break;
    sawAny = true;
    if (one[0] === 0x0a) return Buffer.from(bytes).toString('utf8');
    bytes.push(one[0]);
  }
  return sawAny ? Buffer.from(bytes).toString('utf8') : undefined;
}

/** sys.stdin.readline().rstrip("\n"): empty string at end of input. */
export function readLineOrEmpty() {
  return readLine() ?? '';
}

let halted = false;

/**
 * The run has finished and the process only waits for its output to drain (see finish() in
 * main.mjs): from now on sleep() and tick() never resolve, so a loop interrupted by a signal
 * stops at its next await instead of going on while the exit is pending.
 */
export function halt() {
  halted = true;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(() => halted || r(), ms));
}

/** Lets pending signal handlers run during long loops. */
export function tick() {
  return new Promise((r) => setImmediate(() => halted || r()));
}
