import { tmpdir } from 'node:os';
import { createJobDir, removeJobDir } from '../adapters/fs/temp.ts';
import { DEFAULT_HOOK_TIMEOUT_S, describeHook, notifyDesktop, runHook, runNotifyCommand } from '../adapters/hooks.ts';
import { acquireJobLock } from '../adapters/lock.ts';
import { readProfiles } from '../adapters/profiles.ts';
import { NO_PROFILE, writeReport, type HookRecord, type Report } from '../adapters/reports.ts';
import { WyngArchive } from '../adapters/wyng/archive.ts';
import { activeWyngProcesses } from '../adapters/wyng/process.ts';
import { locateWyng } from '../adapters/wyng/locate.ts';
import { resolveConfig } from '../core/config.ts';
import type { Envelope } from '../core/envelope.ts';
import { exitCodeFor, toWqError, WqError } from '../core/errors.ts';
import type { CommandName, CommonOptions } from '../core/options.ts';
import { PROFILE_NAME, type Profile } from '../core/profiles.ts';
import {
  desktopMessage,
  operationOf,
  originFromEnv,
  REPORTED_COMMANDS,
  shouldNotifyDesktop,
  type RunOrigin,
} from '../core/reports.ts';
import type { AppContext, AppIo, JobAround } from './ports.ts';

export type { RunOrigin } from '../core/reports.ts';

export interface Job {
  wyng: WyngArchive;
  /** Private temp dir (mode 700), removed when the job ends. */
  tmpDir: string;
}

export function makeWyng(ctx: AppContext): WyngArchive {
  const wyngPath = locateWyng(ctx.options.wyng ?? ctx.config.wyng, process.argv[1], ctx.io.env.PATH);
  const o = ctx.options;
  return new WyngArchive({
    wyngPath,
    globals: { dest: o.dest, metaDir: o.metaDir, unattended: o.unattended, authmin: o.authmin, wyngopt: o.wyngopt },
    env: ctx.io.env,
    passphrase: ctx.passphrase,
    stdin: ctx.io.wyngStdin,
    passthrough: (text) => (o.json ? ctx.io.stderr(text) : ctx.io.stdout(text)),
    // Wyng's errors and warnings stay on stderr (wyng-util-qubes passes Wyng's stderr through as is)
    passthroughStderr: (text) => ctx.io.stderr(text),
    debug: ctx.debug,
    // another program's Wyng run (Wyng's own machine-wide lock): wait as long as for our job lock
    lockWaitMs: ctx.config.lockTimeoutMs,
  });
}

/**
 * Runs one job: the global lock (one job at a time), a private temp dir, and cleanup on any
 * exit — also when SIGINT/SIGTERM arrive while no Wyng runs (with Wyng running, the signal is
 * forwarded to it and the job ends through Wyng's interrupt code).
 */
export async function withJob<T>(ctx: AppContext, fn: (job: Job) => Promise<T>): Promise<T> {
  const wyng = makeWyng(ctx);
  const lock = await acquireJobLock(
    ctx.config.stateDir,
    ctx.config.lockTimeoutMs,
    `${ctx.command} (pid ${process.pid})`,
    ctx.config.lockDir,
  );
  const tmpDir = createJobDir(ctx.io.env.TMPDIR ?? tmpdir());
  const cleanup = (): void => removeJobDir(tmpDir);
  const onSignal = (): void => {
    if (activeWyngProcesses() > 0) return;
    cleanup();
    void lock.release().finally(() => process.exit(exitCodeFor('interrupted')));
  };
  const onInt = onSignal;
  const onTerm = onSignal;
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('exit', cleanup);
  try {
    return await (ctx.around !== undefined ? ctx.around(() => fn({ wyng, tmpDir })) : fn({ wyng, tmpDir }));
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('exit', cleanup);
    cleanup();
    await lock.release();
  }
}

/*
 * What every backup/restore/verify/prune run does besides its job (`execute` uses this, so
 * CLI, library, RPC, Salt and timer runs alike):
 *   - a profile's `hooks.before` / `hooks.after` around the job, inside the job lock
 *     (before fails → the job does not run; after always runs, also after a failed before,
 *     so that it can undo what before did half)
 *   - one JSON report in <state dir>/reports/ (best effort: a report that cannot be written
 *     is logged and never fails the run)
 *   - the profile's notifiers: `notify.desktop` and `notify.command` (a failing notifier is
 *     logged and never fails the run)
 */
export class RunRecorder {
  private readonly started = Date.now();
  private readonly startedAt = new Date().toISOString();
  private profileName: string | undefined;
  private profile: Profile | undefined;
  private readonly hooks: { before?: HookRecord; after?: HookRecord } = {};

  private constructor(
    private readonly command: CommandName,
    private readonly io: AppIo,
    private readonly origin: RunOrigin,
  ) {}

  /** A recorder for the reported commands; undefined for the others. */
  static start(command: CommandName, io: AppIo, origin: RunOrigin | undefined): RunRecorder | undefined {
    if (!REPORTED_COMMANDS.has(command)) return undefined;
    return new RunRecorder(command, io, origin ?? originFromEnv(io.env));
  }

  /** The `--profile` name as given (reports are filed under it when it is a valid name). */
  useProfileName(name: string | undefined): void {
    this.profileName = name !== undefined && PROFILE_NAME.test(name) ? name : undefined;
  }

  /** The loaded profile: its hooks and notifiers apply to this run. */
  useProfile(profile: Profile | undefined): void {
    this.profile = profile;
  }

  private warn(text: string): void {
    this.io.stderr(`wyng-qubes: ${text}\n`);
  }

  private hookVars(): Record<string, string> {
    return {
      WYNG_QUBES_PROFILE: this.profileName ?? '',
      WYNG_QUBES_COMMAND: this.command,
      WYNG_QUBES_RUN_SOURCE: this.origin.source,
      ...(this.profile !== undefined ? { WYNG_QUBES_DEST: this.profile.dest } : {}),
    };
  }

  /** The hooks wrapper for withJob, when the profile has hooks. */
  around(): JobAround | undefined {
    const hooks = this.profile?.hooks;
    if (hooks === undefined || (hooks.before === undefined && hooks.after === undefined)) return undefined;
    const timeoutMs = (hooks.timeout_s ?? DEFAULT_HOOK_TIMEOUT_S) * 1000;
    const name = this.profileName ?? '?';
    return async <T>(job: () => Promise<T>): Promise<T> => {
      let ok = false;
      let exitCode = 1;
      let beforeFailed = false;
      try {
        if (hooks.before !== undefined) {
          const before = await runHook(hooks.before, timeoutMs, this.hookVars());
          this.hooks.before = before;
          if (!before.ok) {
            beforeFailed = true;
            throw new WqError(
              'hook',
              `The hooks.before command of profile '${name}' (${before.argv0}) failed ` +
                `(${describeHook(before, timeoutMs)}); the ${this.command} did not run.`,
            );
          }
        }
        const value = await job();
        const code = (value as { exitCode?: unknown } | null)?.exitCode;
        exitCode = typeof code === 'number' ? code : 0;
        ok = exitCode === 0;
        return value;
      } catch (err) {
        exitCode = toWqError(err).exitCode;
        throw err;
      } finally {
        if (hooks.after !== undefined) {
          const after = await runHook(hooks.after, timeoutMs, {
            ...this.hookVars(),
            WYNG_QUBES_OK: ok ? '1' : '0',
            WYNG_QUBES_EXIT_CODE: String(exitCode),
            WYNG_QUBES_BEFORE_FAILED: beforeFailed ? '1' : '0',
          });
          this.hooks.after = after;
          if (!after.ok)
            this.warn(
              `the hooks.after command of profile '${name}' (${after.argv0}) failed ` +
                `(${describeHook(after, timeoutMs)}).`,
            );
        }
      }
    };
  }

  /** Writes the report and notifies; returns the envelope unchanged. Never throws. */
  async finish(envelope: Envelope, options: Pick<CommonOptions, 'dryRun'>): Promise<Envelope> {
    // RPC callers that find another job running poll again; those refusals are audited only.
    if (this.origin.source === 'rpc' && envelope.errors[0]?.kind === 'busy') return envelope;
    const report: Report = {
      version: 1,
      profile: this.reportProfile(),
      operation: operationOf(this.command),
      command: this.command,
      source: this.origin.source,
      ...(this.origin.caller !== undefined ? { caller: this.origin.caller } : {}),
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - this.started,
      ok: envelope.ok,
      exitCode: envelope.exitCode,
      result: envelope.result,
      errors: envelope.errors,
      ...(this.command === 'restore' && options.dryRun ? { dryRun: true } : {}),
      ...(this.hooks.before !== undefined || this.hooks.after !== undefined ? { hooks: { ...this.hooks } } : {}),
    };
    try {
      writeReport(resolveConfig(this.io.env).stateDir, report);
    } catch (err) {
      this.warn(`cannot write the report: ${(err as Error).message}`);
    }
    await this.notify(report);
    return envelope;
  }

  /**
   * The profile the report is filed under: the `--profile` name when such a profile exists
   * (also a broken one: its runs fail and say so), else NO_PROFILE — a mistyped name gets no
   * report entry of its own.
   */
  private reportProfile(): string {
    const name = this.profileName;
    if (name === undefined) return NO_PROFILE;
    if (this.profile !== undefined) return name;
    try {
      const reading = readProfiles(resolveConfig(this.io.env).configDir);
      const known = Object.hasOwn(reading.profiles, name) || reading.problems.some((p) => p.profile === name);
      return known ? name : NO_PROFILE;
    } catch {
      return NO_PROFILE;
    }
  }

  private async notify(report: Report): Promise<void> {
    const notify = this.profile?.notify;
    if (notify === undefined) return;
    const name = this.profileName ?? '?';
    if (notify.command !== undefined) {
      try {
        const problem = await runNotifyCommand(notify.command, `${JSON.stringify(report)}\n`);
        if (problem !== undefined)
          this.warn(
            `the notify.command of profile '${name}' failed (${problem}); the ${this.command} result is not affected.`,
          );
      } catch (err) {
        this.warn(
          `the notify.command of profile '${name}' failed (${(err as Error).message}); ` +
            `the ${this.command} result is not affected.`,
        );
      }
    }
    if (shouldNotifyDesktop(notify.desktop, report.ok)) {
      try {
        const problem = await notifyDesktop(this.io.env, desktopMessage(report));
        if (problem !== undefined) this.warn(`desktop notification for profile '${name}' failed (${problem}).`);
      } catch (err) {
        this.warn(`desktop notification for profile '${name}' failed (${(err as Error).message}).`);
      }
    }
  }
}
