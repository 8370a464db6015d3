// Entry point of the Wyng test double: Wyng 0.8 rc4's main flow (parse, banner, lock, archive,
// volume selection, action, exit), its exit codes and stdout/stderr split (design.md "Wyng contract").
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { Ctx, Exit, PyCrash, WyngError, halt } from './context.mjs';
import { FakeConfigError, initClock, lockPath, logPath, parseFaults, runsAsAdmin, volumeDelayMs } from './env.mjs';
import { acquireLock, releaseLock } from './lock.mjs';
import { ArgparseError, HelpRequested, USAGE, checkOptions, parseArgs } from './options.mjs';
import { getConfigs } from './dest.mjs';
import { storageSets } from './storage.mjs';
import { listCommand } from './cmd-list.mjs';
import { sendCommand } from './cmd-send.mjs';
import { receiveCommand, verifyCommand } from './cmd-receive.mjs';
import { pruneCommand } from './cmd-prune.mjs';
import { archCheckCommand, deleteCommand } from './cmd-misc.mjs';
import { isoLocal, pyJson } from './pyfmt.mjs';

export const BANNER = 'Wyng 0.8 rc4 release 20251028';

function writeLog(argv, exitCode, signal) {
  const p = logPath();
  if (!p) return;
  try {
    appendFileSync(
      p,
      `${JSON.stringify({
        argv,
        cwd: process.cwd(),
        exitCode,
        signal: signal ?? null,
        pid: process.pid,
        time: new Date().toISOString(),
      })}\n`,
    );
  } catch {
    /* the log is best effort */
  }
}

/** Wyng's atexit cleanup: the "Error on volumes" line, the `.error` file, exit 2. Then exit. */
function finish(ctx, argv, code) {
  if (ctx.finished) return;
  ctx.finished = true;
  if (ctx.errorCache.length) {
    const vols = [...new Set(ctx.errorCache)].sort();
    ctx.errOut(`\nError on volumes: ${vols.join(', ')}`);
    let ok = true;
    if (ctx.archive && ctx.options?.vols_from) {
      try {
        writeFileSync(
          `${ctx.options.vols_from}.error`,
          pyJson(
            new Map([
              ['rc', 2],
              ['volumes', vols],
            ]),
          ),
        );
      } catch (e) {
        ok = false;
        ctx.errOut(`Cleanup error: ${e.code ?? 'OSError'}(${JSON.stringify(e.message)})`);
      }
    }
    if (ok) code = 2;
  }
  releaseLock();
  writeLog(argv, code);
  exitWhenWritten(code);
}

/**
 * Exits once stdout and stderr have taken everything written, as Python does at exit.
 * process.exit() right away would drop what is still queued for a pipe whose reader is behind
 * (more than the pipe's 64 KiB): a verbose verify then ends mid-volume with exit 0.
 */
function exitWhenWritten(code) {
  halt();
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  // a reader that went away (EPIPE) takes nothing more: exit with the run's code all the same
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', () => process.exit(code));
    s.write('', done);
  }
  setTimeout(() => process.exit(code), 10_000);
}

function traceback(ctx, e) {
  ctx.out('\n');
  ctx.err(
    'Traceback (most recent call last):\n  File "wyng (test double)", line 1, in <module>\n' +
      `    ${e.where}\n${e.pyType}: ${e.pyMessage}\n${e.note !== undefined ? `${e.note}\n` : ''}`,
  );
}

/** WYNG_FAKE_FAIL=hold:FILE — with the lock taken, writes FILE.held (its pid) and waits until FILE exists. */
async function holdUntilReleased(file) {
  writeFileSync(`${file}.held`, String(process.pid));
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 20));
}

async function run(ctx, argv) {
  const opts = parseArgs(argv);
  ctx.options = opts;
  ctx.verbose = opts.verbose > 0 || opts.debug;
  checkOptions(opts, { admin: !ctx.faults.nonroot && runsAsAdmin() });
  // Before the banner Wyng already reads --local-from (malformed JSON fails here, exit 9).
  storageSets(ctx, opts, undefined, { requireLocal: false, faults: ctx.faults });
  if (opts.quiet && !['list', 'version'].includes(opts.action)) {
    opts.unattended = true;
    ctx.quiet = true;
  }
  ctx.print(BANNER);
  if (opts.action === 'version') return 0;

  if (ctx.faults.nonroot) throw new Exit(1, `ERROR: No writing permission on ${lockPath()}`);
  if (!acquireLock(lockPath())) throw new Exit(1, `I/O ERROR obtaining lock on ${lockPath()}`);
  if (ctx.faults.hang) await new Promise(() => setInterval(() => {}, 1 << 30));
  if (ctx.faults.hold !== undefined) await holdUntilReleased(ctx.faults.hold);

  const archive = getConfigs(ctx, opts, ctx.faults);
  ctx.archive = archive;
  const requireLocal = !opts.save_to && ['monitor', 'send', 'receive', 'diff'].includes(opts.action);
  const { storage, sets } = storageSets(ctx, opts, archive, { requireLocal, faults: ctx.faults });

  const t = isoLocal(Number(archive.updatedAt));
  ctx.print(
    archive.encrypted ? 'Encrypted' : 'Un-encrypted',
    'archive',
    `'${archive.spec}'\nLast updated ${t.slice(0, -6)} (${t.slice(-6)})`,
  );
  if (ctx.faults.crash) throw new PyCrash('RuntimeError', 'simulated crash (WYNG_FAKE_FAIL=crash)', 'main');

  const datavols = opts.all ? archive.names().filter((n) => !opts.volex.includes(n)) : [];
  const selected = [...new Set([...opts.volumes, ...datavols])].sort();
  for (const v of [...selected]) {
    if (!archive.has(v) && !['add', 'delete', 'rename', 'send', 'arch-check'].includes(opts.action)) {
      ctx.print(`Volume '${v}' not found; Skipping.`);
      selected.splice(selected.indexOf(v), 1);
    }
  }

  switch (opts.action) {
    case 'list':
      listCommand(ctx, archive, opts, selected);
      break;
    case 'send':
      await sendCommand(ctx, archive, opts, sets, selected, ctx.faults);
      break;
    case 'receive':
      await receiveCommand(ctx, archive, opts, sets, selected);
      break;
    case 'verify':
      await verifyCommand(ctx, archive, opts, sets, selected);
      break;
    case 'prune':
      pruneCommand(ctx, archive, opts, selected);
      break;
    case 'delete':
      deleteCommand(ctx, archive, opts, storage);
      break;
    case 'arch-check':
      await archCheckCommand(ctx, archive, opts, selected);
      break;
    case 'arch-init':
      break;
    default:
      throw new Exit(1, `Wyng test double: '${opts.action}' is not implemented.`);
  }
  return 0;
}

export async function main(argv) {
  const ctx = new Ctx();
  ctx.interrupt = () => {
    throw new Exit(8, '\n*** Interrupt.');
  };
  try {
    initClock();
    ctx.faults = parseFaults();
    volumeDelayMs();
  } catch (e) {
    if (!(e instanceof FakeConfigError)) throw e;
    ctx.errOut(`Wyng test double: ${e.message}`);
    finish(ctx, argv, 1);
    return;
  }

  process.on('SIGINT', () => {
    if (ctx.finished) return;
    ctx.errOut('\n*** Interrupt.');
    finish(ctx, argv, 8);
  });
  // Wyng has no SIGTERM handler outside critical sections: the process dies of the signal.
  process.on('SIGTERM', () => {
    releaseLock();
    writeLog(argv, null, 'SIGTERM');
    process.removeAllListeners('SIGTERM');
    process.kill(process.pid, 'SIGTERM');
  });

  let code;
  try {
    code = await run(ctx, argv);
  } catch (e) {
    if (e instanceof ArgparseError) {
      ctx.err(`${USAGE}wyng: error: ${e.message}\n`);
      code = 2;
    } else if (e instanceof HelpRequested) {
      ctx.out(e.text);
      code = 0;
    } else if (e instanceof Exit) {
      if (e.text !== undefined) ctx.errOut(e.text);
      code = e.code;
    } else if (e instanceof WyngError) {
      ctx.errOut(`\n${e.kind}: ${e.message}\n`);
      code = e.code;
    } else if (e instanceof PyCrash) {
      traceback(ctx, e);
      code = 1;
    } else {
      traceback(
        ctx,
        new PyCrash('InternalError', `Wyng test double bug: ${e && e.stack ? e.stack : String(e)}`, 'internal'),
      );
      code = 1;
    }
  }
  finish(ctx, argv, code);
}
