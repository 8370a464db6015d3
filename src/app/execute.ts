import { resolveConfig } from '../core/config.ts';
import { DRY_RUN_COMMANDS } from '../core/dry-run.ts';
import { makeEnvelope, type Envelope } from '../core/envelope.ts';
import { PromptInterrupted, toWqError, WqError, type ErrorRecord } from '../core/errors.ts';
import { assertQubeName } from '../core/names.ts';
import { originFromEnv } from '../core/reports.ts';
import type { CommandName, CommonOptions } from '../core/options.ts';
import { REPORTED_COMMANDS } from '../core/reports.ts';
import { escapeForTerminal } from '../core/terminal.ts';
import type { RunOrigin, RunRecorder } from './job.ts';
import type { AppContext, AppIo, UseCase } from './ports.ts';

/**
 * A use case whose module is loaded when it first runs. One bundle still holds every command,
 * but a module's top level (its zod schemas, the XML parser, tar, execa) only runs for the
 * command that needs it: `version` and `--help` start without them (issue 17, cold start).
 */
export function lazyUseCase(load: () => Promise<UseCase>): UseCase {
  return async (ctx) => (await load())(ctx);
}

/** Commands that only an entry point can run (they serve or call that entry point itself). */
export type EntryPointCommand = 'rpc' | 'remote';

/** Every command's use case, except those of the entry points. */
export const USE_CASES: Record<Exclude<CommandName, EntryPointCommand>, UseCase> = {
  version: lazyUseCase(async () => (await import('./version.ts')).versionUseCase),
  create: lazyUseCase(async () => (await import('./create.ts')).createUseCase),
  list: lazyUseCase(async () => (await import('./list.ts')).listUseCase),
  verify: lazyUseCase(async () => (await import('./verify.ts')).verifyUseCase),
  prune: lazyUseCase(async () => (await import('./prune.ts')).pruneUseCase),
  delete: lazyUseCase(async () => (await import('./delete.ts')).deleteUseCase),
  backup: lazyUseCase(async () => (await import('./backup.ts')).backupUseCase),
  restore: lazyUseCase(async () => (await import('./restore.ts')).restoreUseCase),
  profiles: lazyUseCase(async () => (await import('./profiles.ts')).profilesUseCase),
  schedule: lazyUseCase(async () => (await import('./schedule.ts')).scheduleUseCase),
  report: lazyUseCase(async () => (await import('./report.ts')).reportUseCase),
};

/** Commands whose positional arguments are not qube names. */
const ARG_COMMANDS: ReadonlySet<CommandName> = new Set(['profiles', 'rpc', 'remote', 'schedule', 'report']);

export interface ExecuteOptions {
  /** Options given explicitly (they win over a profile's values); default: those not at their default. */
  explicit?: ReadonlySet<string> | undefined;
  /** Who started the run, for its report. */
  origin?: RunOrigin | undefined;
  /** The entry point's own commands (the CLI's `rpc` and `remote`). */
  entryPoints?: Partial<Record<EntryPointCommand, UseCase>> | undefined;
}

function useCaseOf(command: CommandName, entryPoints: ExecuteOptions['entryPoints']): UseCase {
  if (command === 'rpc' || command === 'remote') {
    const handler = entryPoints?.[command];
    if (handler === undefined) throw new WqError('option', `'${command}' is a command of the CLI only.`);
    return handler;
  }
  return USE_CASES[command];
}

/**
 * Runs one command with already-validated options and returns its `--json` document.
 * The CLI, the library API and the RPC services all end here; so every backup, restore,
 * verify and prune run leaves a report (`origin` says who started it; job.ts).
 */
export async function execute(
  command: CommandName,
  args: string[],
  options: CommonOptions,
  io: AppIo,
  opts: ExecuteOptions = {},
): Promise<Envelope> {
  const recorder = REPORTED_COMMANDS.has(command)
    ? (await import('./job.ts')).RunRecorder.start(command, io, opts.origin)
    : undefined;
  recorder?.useProfileName(options.profile);
  const envelope = await executeCommand(command, args, options, io, opts, recorder);
  return recorder === undefined ? envelope : recorder.finish(envelope, options);
}

async function executeCommand(
  command: CommandName,
  args: string[],
  options: CommonOptions,
  io: AppIo,
  opts: ExecuteOptions,
  recorder: RunRecorder | undefined,
): Promise<Envelope> {
  const json = options.json;
  try {
    // `remote` sends --dry-run in its request: dom0's service decides what it means for the operation
    if (options.dryRun && command !== 'remote' && !DRY_RUN_COMMANDS.has(command)) {
      const valid = [...DRY_RUN_COMMANDS].join(', ');
      throw new WqError('option', `--dry-run is only valid with ${valid} (and remote Restore)`);
    }
    // Qube names are checked before any program runs.
    if (!ARG_COMMANDS.has(command)) args.forEach(assertQubeName);
    const config = resolveConfig(io.env);
    // --profile NAME: the profile's values under the explicit options (and its passphrase).
    const applied =
      options.profile === undefined
        ? { options, args, passphrase: undefined, profile: undefined }
        : await (await import('./profile.ts')).applyProfileOptions(command, args, options, opts.explicit, config);
    recorder?.useProfile(applied.profile);
    const ctx: AppContext = {
      command,
      args: applied.args,
      options: applied.options,
      passphrase: applied.passphrase,
      config,
      io,
      // human text may hold archive-derived values: no control character reaches a terminal
      say: (text) => {
        const safe = `${escapeForTerminal(text, { keepLines: true })}\n`;
        if (json) io.stderr(safe);
        else io.stdout(safe);
      },
      warn: (text) => io.stderr(`${escapeForTerminal(text, { keepLines: true })}\n`),
      debug: (text) => {
        if (options.debug) io.stderr(`debug: ${text}\n`);
      },
      around: recorder?.around(),
      origin: opts.origin ?? originFromEnv(io.env),
      profile: applied.profile,
    };
    const outcome = await useCaseOf(command, opts.entryPoints)(ctx);
    return makeEnvelope(command, outcome.exitCode, outcome.result, outcome.errors);
  } catch (err) {
    const e = toWqError(err);
    const errors: ErrorRecord[] = [e.toRecord()];
    if (err instanceof PromptInterrupted) {
      io.stderr('\nCancelled.\n');
      return makeEnvelope(command, e.exitCode, { cancelled: true }, errors);
    }
    io.stderr(
      `${e.kind === 'internal' ? 'Internal error' : 'Error'}: ${escapeForTerminal(e.message, { keepLines: true })}\n`,
    );
    return makeEnvelope(command, e.exitCode, null, errors);
  }
}
