import type { Envelope } from '../core/envelope.ts';
import { WqError } from '../core/errors.ts';
import { CommonOptionsSchema, describeZodError, type CommandName, type CommonOptionsInput } from '../core/options.ts';
import type { RunOrigin } from '../core/reports.ts';
import { execute } from './execute.ts';
import type { AppIo } from './ports.ts';

export interface LibraryOptions extends CommonOptionsInput {
  /** Qube names (positional arguments of the CLI). */
  qubes?: string[];
}

export interface LibraryContext {
  /** Environment for system locations (WYNG_QUBES_*); defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Receives human-readable progress text; discarded by default. */
  onText?: (text: string) => void;
  /** Who started the run, for its report (default: WYNG_QUBES_RUN_SOURCE, else `cli`). */
  origin?: RunOrigin;
}

/** Runs any command as the CLI would, without printing; throws WqError only for invalid options. */
export async function run(
  command: CommandName,
  options: LibraryOptions = {},
  context: LibraryContext = {},
): Promise<Envelope> {
  const { qubes = [], ...rest } = options;
  const parsed = CommonOptionsSchema.safeParse({ unattended: true, ...rest });
  if (!parsed.success) throw new WqError('option', describeZodError(parsed.error));
  const text = context.onText ?? (() => undefined);
  const io: AppIo = {
    stdout: text,
    stderr: text,
    stdinIsTTY: false,
    wyngStdin: 'ignore',
    env: context.env ?? process.env,
    confirm: async () => false,
    readStdin: async () => Buffer.alloc(0),
  };
  // The options given here win over a profile's values (`profile`).
  const explicit = new Set(Object.keys(rest).filter((k) => (rest as Record<string, unknown>)[k] !== undefined));
  return execute(command, [...qubes], { ...parsed.data, unattended: true }, io, { explicit, origin: context.origin });
}

export const list = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('list', o, c);
export const create = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('create', o, c);
export const verify = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('verify', o, c);
export const prune = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('prune', o, c);
export const deleteQube = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('delete', o, c);
export const backup = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('backup', o, c);
export const restore = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> => run('restore', o, c);
/** The restore plan only (`restore --dry-run`). */
export const plan = (o: LibraryOptions = {}, c?: LibraryContext): Promise<Envelope> =>
  run('restore', { ...o, dryRun: true }, c);
