// The command line as words: commander's parse of the command table (src/cli/command-table.ts),
// prefix expansion and the help texts. No option model (zod) and no use case is loaded here, so
// `--help` and `help COMMAND` stay light (issue 17, cold start); src/cli/program.ts checks the
// options and runs the command.
import { Command, CommanderError } from 'commander';
import { renderEnvelope } from '../core/envelope.ts';
import { WqError } from '../core/errors.ts';
import { COMMANDS, type CommandName } from '../core/commands.ts';
import type { CommonOptions } from '../core/options.ts';
import { printable } from '../core/names.ts';
import type { CliIo } from './io.ts';
import { COMMAND_TABLE, OPTION_TABLE, accepts, commandList, findOption, makeOption } from './command-table.ts';
import { expandOptionPrefixes, type PrefixOption } from './option-prefix.ts';

const QUIET: Pick<CliIo, 'stdout' | 'stderr'> = { stdout: () => undefined, stderr: () => undefined };

function isCommand(word: string | undefined): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

/** One command: its usage line, summary and the options it accepts (src/cli/command-table.ts). */
function buildCommand(name: CommandName, io: Pick<CliIo, 'stdout' | 'stderr'>, withOptions: boolean): Command {
  const spec = COMMAND_TABLE[name];
  const cmd = new Command(name).description(spec.summary).usage(`[options] ${spec.args}`.trim());
  if (withOptions) for (const o of OPTION_TABLE) if (accepts(o, name)) cmd.addOption(makeOption(o, name));
  return cmd
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments()
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s), outputError: () => undefined })
    .action(() => undefined);
}

/**
 * The commander program: one subcommand per command (`command`'s with its options; the others
 * only for the overview). Without a command it accepts every option (its help shows the common
 * ones), as wyng-util-qubes accepts options before the command: `wyng-qubes --dest=X -u list`.
 */
export function buildProgram(io: Pick<CliIo, 'stdout' | 'stderr'>, command?: CommandName): Command {
  const program = new Command('wyng-qubes')
    .description('Back up and restore Qubes OS qubes (data and settings) with Wyng.')
    .usage('[options] COMMAND [ARGS ...]');
  // the program parses only a command line without a command word
  if (command === undefined) for (const o of OPTION_TABLE) program.addOption(makeOption(o));
  program
    .helpOption('-h, --help', "show this help (help COMMAND: that command's)")
    .helpCommand('help [COMMAND]', "show a command's help: its options")
    .configureHelp({
      subcommandTerm: (c) => {
        const name = c.name();
        return isCommand(name) ? `${name} ${COMMAND_TABLE[name].args}`.trim() : 'help [COMMAND]';
      },
    })
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s), outputError: () => undefined })
    .action(() => undefined);
  for (const name of COMMANDS) program.addCommand(buildCommand(name, io, name === command));
  return program;
}

/** After the overview: where the rest is. */
const OVERVIEW_END =
  "\nRun 'wyng-qubes help COMMAND' or 'wyng-qubes COMMAND --help' for the options of a command.\n" +
  'Options may come before or after the command; a unique prefix of a long option stands for it.\n';

/** The help text: the overview (`--help`, `help`), or one command's (`help COMMAND`, `COMMAND --help`). */
export function helpText(command?: CommandName): string {
  const program = buildProgram(QUIET, command);
  if (command === undefined) return program.helpInformation() + OVERVIEW_END;
  return program.commands.find((c) => c.name() === command)!.helpInformation();
}

/** Every help text: the overview and each command's (the build makes them into the entry: src/main.ts). */
export interface HelpTexts {
  overview: string;
  commands: Record<string, string>;
}

export function allHelpTexts(): HelpTexts {
  return { overview: helpText(), commands: Object.fromEntries(COMMANDS.map((c) => [c, helpText(c)])) };
}

export interface ParsedCommandLine {
  command: CommandName;
  args: string[];
  options: CommonOptions;
  /** Options given on the command line (they win over a profile's values). */
  explicit: Set<string>;
}

/** `-h`/`--help` or the `help` command: the help text, printed by the caller (as text, or in the --json document). */
export interface HelpRequest {
  help: string;
  json: boolean;
}

/** How one option of the table becomes one key of the option model (CommonOptionsSchema). */
interface ModelOption {
  /** `--dry-run` → dryRun, `--no-qubes-post` → noQubesPost */
  key: string;
  /** commander's key (`--no-qubes-post` → qubesPost) */
  attribute: string;
  value: (given: unknown) => unknown;
}

let MODEL_OPTIONS: readonly ModelOption[] | undefined;

export function modelOptions(): readonly ModelOption[] {
  MODEL_OPTIONS ??= OPTION_TABLE.filter((s) => s.model !== false).map((spec) => {
    const o = makeOption(spec);
    const key = o.long!.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const value =
      spec.toModel ??
      (o.negate ? (v: unknown) => v === false : o.isBoolean() ? (v: unknown) => v === true : (v: unknown) => v);
    return { key, attribute: o.attributeName(), value };
  });
  return MODEL_OPTIONS;
}

const PREFIX_OPTIONS = new Map<string, readonly PrefixOption[]>();

/**
 * What prefix expansion needs to know about the options `command` accepts (without a command: every
 * option). `--help` is 0.9's too (`--he`). Options marked exact (`--version`, `--expect-plan`,
 * `--allow-rollback`) only by their full name: a restore guard is never switched on by an abbreviation.
 */
export function prefixOptions(command?: CommandName): readonly PrefixOption[] {
  const key = command ?? '';
  const known = PREFIX_OPTIONS.get(key);
  if (known !== undefined) return known;
  const specs = OPTION_TABLE.filter((s) => command === undefined || accepts(s, command));
  const options = [
    ...specs.map((s) => {
      const o = makeOption(s);
      return { long: o.long, short: o.short, required: o.required, exact: s.exact === true, v09: s.v09 === true };
    }),
    { long: '--help', short: '-h', v09: true },
  ];
  PREFIX_OPTIONS.set(key, options);
  return options;
}

/** Whether an option word (a full name or a prefix, without `=`) reads the next word as its value. */
function readsValue(word: string, options: readonly PrefixOption[]): boolean {
  try {
    const [full] = expandOptionPrefixes(
      [word],
      options.map((o) => ({ ...o, required: false })),
    );
    return options.some((o) => o.long === full && o.required === true);
  } catch {
    // ambiguous: the parse reports it; the candidates that all take a value still read one here
    const candidates = options.filter((o) => o.long?.startsWith(word) === true && o.exact !== true);
    return candidates.length > 0 && candidates.every((o) => o.required === true);
  }
}

/**
 * Where the command word is: the first word that is neither an option nor an option's value
 * (wyng-util-qubes takes options before and after the command). -1 when there is none.
 */
function commandWordAt(argv: readonly string[]): number {
  const options = prefixOptions();
  const shortValue = new Set(options.filter((o) => o.required === true).map((o) => o.short));
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (word.startsWith('--')) {
      if (!word.includes('=') && readsValue(word, options)) i++;
    } else if (/^-[^-]/.test(word)) {
      // "-w VALUE", "-uw VALUE": a short option that takes a value and ends the word reads the next
      if ([...word.slice(1)].findIndex((c) => shortValue.has(`-${c}`)) === word.length - 2) i++;
    } else return i;
  }
  return -1;
}

/**
 * The command the command line names (its first positional word), for error documents of a command
 * line that fails to parse: `list --dest --json` is an error of `list`. Undefined when no known
 * command is named.
 */
export function namedCommand(argv: readonly string[]): CommandName | 'help' | undefined {
  const word = argv[commandWordAt(argv)];
  return word === 'help' || isCommand(word) ? word : undefined;
}

function unknownCommand(word: string): WqError {
  return new WqError('option', `unknown command '${printable(word)}' (expected one of: ${COMMANDS.join(', ')}, help)`);
}

/** `--json` before any `--` (after prefix expansion). */
function jsonAsked(expanded: readonly string[]): boolean {
  return expanded.slice(0, (expanded.indexOf('--') + 1 || expanded.length + 1) - 1).includes('--json');
}

/**
 * An unknown option of this command that another command has: say which ("--as is only valid with
 * restore and remote"), as for --all; otherwise commander's "unknown option '--x'".
 */
function optionError(err: CommanderError, command: CommandName | undefined): WqError {
  const word = /^error: unknown option '([^']*)'/.exec(err.message)?.[1];
  const spec = word === undefined ? undefined : findOption(word);
  if (spec !== undefined && command !== undefined && !accepts(spec, command)) {
    const long = spec.flags.split(/[ ,]+/).find((f) => f.startsWith('--'))!;
    return new WqError('option', `${long} is only valid with ${commandList(spec.commands)}`);
  }
  return new WqError('option', err.message.replace(/^error: /, ''));
}

/** The command line read by commander: the command, its parser (options given), or a help request. */
export type CommandWords = HelpRequest | { command: CommandName; parser: Command; opts: Record<string, unknown> };

/** Reads the command line as words (no option model yet: src/cli/program.ts parseCommandLine). */
export function readCommandWords(argv: readonly string[]): CommandWords {
  const at = commandWordAt(argv);
  const word = at < 0 ? undefined : argv[at];
  const rest = at < 0 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 1)];
  if (word === 'help') {
    // `help [COMMAND]`: the overview, or that command's help
    const json = jsonAsked(expandOptionPrefixes(rest, prefixOptions()));
    const target = rest[commandWordAt(rest)];
    if (target === undefined || target === 'help') return { help: helpText(), json };
    if (!isCommand(target)) throw unknownCommand(target);
    return { help: helpText(target), json };
  }
  if (word !== undefined && !isCommand(word)) {
    expandOptionPrefixes(rest, prefixOptions()); // an option error comes first, as before
    throw unknownCommand(word);
  }
  // Without a command word the program itself parses (`--help`, `-V`); otherwise the command does.
  const program = buildProgram(QUIET, word);
  const parser = word === undefined ? program : program.commands.find((c) => c.name() === word)!;
  const expanded = expandOptionPrefixes(rest, prefixOptions(word));
  const json = jsonAsked(expanded);
  try {
    parser.parse(expanded, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help')
        return { help: helpText(word), json };
      throw optionError(err, word);
    }
    throw err;
  }
  const o = parser.opts<Record<string, unknown>>();
  // `-V`/`--version` is the version command
  const command: CommandName | undefined = o.version === true ? 'version' : word;
  if (command === undefined) throw new WqError('option', "missing required argument 'command'");
  if (command !== word) return readCommandWords(['version', ...rest]);
  return { command, parser, opts: o };
}

/**
 * The help a command line asks for (`--help`, `help [COMMAND]`, `COMMAND --help`, with their
 * prefixes), or undefined for any other command line — including one that does not parse: the
 * full CLI reports that.
 */
export function helpRequested(argv: readonly string[]): HelpRequest | undefined {
  try {
    const words = readCommandWords(argv);
    return 'help' in words ? words : undefined;
  } catch {
    return undefined;
  }
}

/** Prints a help request: the text, or inside the --json document. */
export function printHelp(request: HelpRequest, io: Pick<CliIo, 'stdout'>): void {
  io.stdout(request.json ? renderEnvelope('help', 0, { help: request.help }, []) : request.help);
}
