import type { Config } from '../../core/config.ts';
import type { ErrorRecord } from '../../core/errors.ts';
import type { CommandName, CommonOptions } from '../../core/options.ts';
import type { CliIo } from '../io.ts';
import type { JobAround } from '../run-report.ts';

export interface CommandContext {
  command: CommandName;
  /** Positional arguments after the command: qube names, or a sub-command's arguments. */
  args: string[];
  options: CommonOptions;
  /** Passphrase for an encrypted archive (from a profile); handed to Wyng via its environment only. */
  passphrase?: string | undefined;
  config: Config;
  io: CliIo;
  /** Human output: stdout, or stderr under --json. */
  say(text: string): void;
  /** Warnings and errors: always stderr. */
  warn(text: string): void;
  debug(text: string): void;
  /** Runs around the job inside the job lock (a profile's hooks.before/after). */
  around?: JobAround | undefined;
}

export interface CommandOutcome {
  exitCode: number;
  result: unknown;
  errors: ErrorRecord[];
}

export type CommandHandler = (ctx: CommandContext) => Promise<CommandOutcome>;
