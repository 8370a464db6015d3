import { Command, CommanderError, Option } from 'commander';
import { execute } from '../app/execute.ts';
import { renderEnvelope } from '../core/envelope.ts';
import { WqError, toWqError } from '../core/errors.ts';
import {
  COMMANDS,
  CommonOptionsSchema,
  describeZodError,
  type CommandName,
  type CommonOptions,
} from '../core/options.ts';
import { parseReachApprovals } from '../core/restore/reach.ts';
import { printable } from '../core/names.ts';
import { VERSION } from '../core/version.ts';
import type { CliIo } from './io.ts';
import { CLI_COMMANDS } from './commands/index.ts';
import { expandOptionPrefixes, type PrefixOption } from './option-prefix.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function intArg(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new WqError('option', `'${value}' is not an integer`);
  return Number(value);
}

/** The commander program: options anywhere, `COMMAND [QUBE ...]` positionals (as wyng-util-qubes). */
export function buildProgram(io: Pick<CliIo, 'stdout' | 'stderr'>): Command {
  const program = new Command('wyng-qubes');
  program
    .description('Back up and restore Qubes OS qubes (data and settings) with Wyng.')
    .usage('[options] COMMAND [QUBE ...]')
    .argument('[command]', `one of: ${COMMANDS.join(', ')}, help`)
    .argument('[qubes...]', 'qube names (or sub-command arguments)')
    .option('--dest <url>', 'URL location of the Wyng archive (passed to Wyng)')
    .option('--authmin <n>', 'retain authentication for N minutes', intArg)
    .option('--session <s>', 'session YYYYMMDD-HHMMSS, or a range S1,S2 (prune)')
    .option('-d, --dedup', 'use deduplication (backup)')
    .option('-i, --includes', 'select every qube marked "include in backups" (backup)')
    .option('--exclude <name>', 'exclude a qube (repeatable)', collect, [])
    .option('--check-after-send', 'check the new session after backup')
    .addOption(new Option('--autoprune <mode>', 'automatic pruning').choices(['off', 'on', 'full']))
    .option('--all-before', 'select all sessions before --session (prune)')
    .option('--all', 'all volumes / sessions (list, prune)')
    .option('--pref <spec>', 'NAME::x skips property NAME on restore (repeatable)', collect, [])
    .option('--pool-info', 'show local storage pools (list)')
    .option('-p, --pool <pool>', 'Qubes storage pool for qubes created by restore')
    .option('--wyng <path>', 'path of the Wyng executable')
    .option('-w, --wyngopt <opt>', 'pass --OPT[=VAL] to Wyng (repeatable)', collect, [])
    .option('--no-snapshot-restore', "don't restore from local snapshots (restore)")
    .option('--no-auto-rename', "don't rename volumes between LVM and reflink names (backup)")
    .option('--no-qubes-post', 'skip qvm-sync-appmenus / qvm-appmenus after restore')
    .addOption(
      new Option('--include-disposable <mode>', 'include disposable qubes (restore, list)').choices(['off', 'on']),
    )
    .option('--remap', 're-pair local snapshots with this archive (backup)')
    .option('--force-incomplete', 'restore templates/standalones with missing volumes')
    .option('-u, --unattended', 'operate without prompts')
    .option('--verbose', 'more output')
    .option('--debug', 'debug output (Admin API call log, Wyng argv)')
    .option('--meta-dir <path>', 'Wyng metadata cache directory')
    .option('--json', 'print one JSON document on stdout (human text goes to stderr)')
    .option('--dry-run', 'restore: print the plan, change nothing')
    .option('--ignore-missing', 'restore: fall back to system defaults for referenced qubes that do not exist')
    .option(
      '--allow-reach <classes>',
      'restore: apply reach changes of these classes (devices,network,gui,tags,features,class,all)',
      collect,
      [],
    )
    .option('--trust-unauthenticated', 'restore: run from an unauthenticated archive (reach changes withheld)')
    .option('--expect-plan <digest>', 'restore: refuse unless the plan digest (from --dry-run --json) matches')
    .option('--keep-plan', 'restore --dry-run: keep what the plan was made from (result.planId)')
    .option('--from-plan <id>', 'restore: use a kept plan (no second fetch); needs --expect-plan')
    .option('--allow-rollback', "restore: restore qubes older than dom0's record of its backups")
    .option('--as <name>', 'restore: restore the one named qube alongside, under this new name')
    .option('--rename-conflicting', 'restore: restore a qube whose name is taken by another class as NAME1, NAME2, …')
    .option(
      '--force',
      'restore/backup: go on although the space pre-flight refuses; restore: also --force-incomplete ' +
        '(wyng-util-qubes 0.9 read --force as that)',
    )
    .option('--ignore-space', 'restore/backup: go on although the space pre-flight refuses (--force without the rest)')
    .option('--dom0-home', "backup: add dom0's home; restore: extract it to ~/home-restore-SESSION")
    .option('--dom0-user <name>', 'whose dom0 home (default: the user who ran sudo)')
    .option('--dom0-home-exclude <path>', 'leave this path of the home out (repeatable; default .cache)', collect, [])
    .option('--profile <name>', 'use a profile from profiles.yaml')
    .option('--last', 'report: show the newest report in full')
    .addOption(new Option('--progress <format>', 'progress events on stderr').choices(['json']))
    .option('-V, --version', 'print the version (as the version command)')
    .helpOption('-h, --help', 'show this help')
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s), outputError: () => undefined })
    .action(() => undefined);
  return program;
}

interface ParsedCommandLine {
  command: CommandName;
  args: string[];
  options: CommonOptions;
  /** Options given on the command line (they win over a profile's values). */
  explicit: Set<string>;
}

/** Commander's option keys that are not named like our option model's. */
const COMMANDER_KEY: Readonly<Record<string, string>> = {
  noSnapshotRestore: 'snapshotRestore',
  noAutoRename: 'autoRename',
  noQubesPost: 'qubesPost',
};

/**
 * Options added after 0.9 that only their full name selects: `--ver` stays 0.9's `--verbose`,
 * `--ex` 0.9's `--exclude`; a restore guard is never switched on or off by an abbreviation.
 */
const EXACT_ONLY: ReadonlySet<string> = new Set([
  '--version',
  '--expect-plan',
  '--allow-rollback',
  '--keep-plan',
  '--from-plan',
  '--force',
]);

/** What prefix expansion needs to know about one of the program's options. */
export function prefixOption(o: Option): PrefixOption {
  return { long: o.long, short: o.short, required: o.required, exact: o.long !== undefined && EXACT_ONLY.has(o.long) };
}

/** The help text (`--help`, `help [COMMAND]`). */
export function helpText(): string {
  return buildProgram({ stdout: () => undefined, stderr: () => undefined }).helpInformation();
}

/** `-h`/`--help` or the `help` command: the help text, printed by the caller (as text, or in the --json document). */
export interface HelpRequest {
  help: string;
  json: boolean;
}

/**
 * The command the command line names (its first positional word), for error documents of a command
 * line that fails to parse: `list --dest --json` is an error of `list`. Undefined when no known
 * command is named.
 */
export function namedCommand(argv: readonly string[]): CommandName | 'help' | undefined {
  const program = buildProgram({ stdout: () => undefined, stderr: () => undefined });
  const takesValue = new Set(program.options.filter((o) => o.required).flatMap((o) => [o.long, o.short]));
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return known(argv[i + 1]);
    if (word.startsWith('--')) {
      if (!word.includes('=') && [...takesValue].some((l) => l !== undefined && l.startsWith(word))) i++;
      continue;
    }
    if (/^-[^-]/.test(word)) {
      if (takesValue.has(`-${word[word.length - 1]!}`)) i++;
      continue;
    }
    return known(word);
  }
  return undefined;
}

function known(word: string | undefined): CommandName | 'help' | undefined {
  if (word === 'help') return 'help';
  return (COMMANDS as readonly string[]).includes(word ?? '') ? (word as CommandName) : undefined;
}

/** Turns commander's raw option bag into our zod-checked option model. */
export function parseCommandLine(
  argv: readonly string[],
  io: Pick<CliIo, 'stdout' | 'stderr' | 'stdinIsTTY'>,
): ParsedCommandLine | HelpRequest {
  let helpShown = '';
  const program = buildProgram({ stdout: (text) => void (helpShown += text), stderr: io.stderr });
  const expanded = expandOptionPrefixes(argv, [...program.options.map(prefixOption), { long: '--help' }]);
  const json = expanded.slice(0, (expanded.indexOf('--') + 1 || expanded.length + 1) - 1).includes('--json');
  try {
    program.parse(expanded, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { help: helpShown, json };
      throw new WqError('option', err.message.replace(/^error: /, ''));
    }
    throw err;
  }
  const o = program.opts<Record<string, unknown>>();
  const [commandGiven, rest] = program.processedArgs as [string | undefined, string[] | undefined];
  // `-V`/`--version` is the version command; `help [COMMAND]` is `--help` (per-command help: not yet).
  if (commandGiven === 'help') return { help: program.helpInformation(), json };
  const commandRaw = o.version === true ? 'version' : commandGiven;
  if (commandRaw === undefined) throw new WqError('option', "missing required argument 'command'");
  if (!(COMMANDS as readonly string[]).includes(commandRaw)) {
    throw new WqError(
      'option',
      `unknown command '${printable(commandRaw)}' (expected one of: ${COMMANDS.join(', ')}, help)`,
    );
  }
  const command = commandRaw as CommandName;
  const raw = {
    dest: o.dest,
    authmin: o.authmin,
    session: o.session,
    dedup: o.dedup === true,
    includes: o.includes === true,
    exclude: o.exclude,
    checkAfterSend: o.checkAfterSend === true,
    autoprune: o.autoprune,
    allBefore: o.allBefore === true,
    all: o.all === true,
    pref: o.pref,
    poolInfo: o.poolInfo === true,
    pool: o.pool,
    wyng: o.wyng,
    wyngopt: o.wyngopt,
    noSnapshotRestore: o.snapshotRestore === false,
    noAutoRename: o.autoRename === false,
    noQubesPost: o.qubesPost === false,
    includeDisposable: o.includeDisposable === 'on',
    remap: o.remap === true,
    // `--force`: 0.9 read it as its prefix of --force-incomplete; it also overrides the space pre-flight
    forceIncomplete: o.forceIncomplete === true || o.force === true,
    // Unattended is implied when stdin is not a terminal (README "Usage").
    unattended: o.unattended === true || !io.stdinIsTTY,
    verbose: o.verbose === true,
    debug: o.debug === true,
    metaDir: o.metaDir,
    json: o.json === true,
    dryRun: o.dryRun === true,
    ignoreMissing: o.ignoreMissing === true,
    allowReach: [...parseReachApprovals((o.allowReach as string[]).flatMap((w) => w.split(',')))],
    trustUnauthenticated: o.trustUnauthenticated === true,
    as: o.as,
    renameConflicting: o.renameConflicting === true,
    ignoreSpace: o.ignoreSpace === true || o.force === true,
    dom0Home: o.dom0Home === true,
    dom0User: o.dom0User,
    dom0HomeExclude: o.dom0HomeExclude,
    profile: o.profile,
    progress: o.progress,
    last: o.last === true,
    expectPlan: o.expectPlan,
    allowRollback: o.allowRollback === true,
    keepPlan: o.keepPlan === true,
    fromPlan: o.fromPlan,
  };
  const parsed = CommonOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new WqError('option', describeZodError(parsed.error));
  const options = parsed.data;
  if (options.all && command !== 'list' && command !== 'prune') {
    throw new WqError('option', '--all is only valid with list and prune');
  }
  if ((options.allowReach.length > 0 || options.trustUnauthenticated) && command !== 'restore') {
    throw new WqError('option', '--allow-reach and --trust-unauthenticated are only valid with restore');
  }
  if (options.expectPlan !== undefined && command !== 'restore' && command !== 'remote')
    throw new WqError('option', '--expect-plan is only valid with restore (and remote Restore)');
  if (options.expectPlan !== undefined && options.dryRun)
    throw new WqError('option', '--expect-plan cannot be combined with --dry-run');
  if ((options.keepPlan || options.fromPlan !== undefined) && command !== 'restore')
    throw new WqError('option', '--keep-plan and --from-plan are only valid with restore');
  if (options.as !== undefined && command !== 'restore' && command !== 'remote')
    throw new WqError('option', '--as is only valid with restore (and remote Restore)');
  if ((options.dom0Home || options.dom0User !== undefined) && command !== 'backup' && command !== 'restore')
    throw new WqError('option', '--dom0-home and --dom0-user are only valid with backup and restore');
  if (options.renameConflicting && command !== 'restore')
    throw new WqError('option', '--rename-conflicting is only valid with restore');
  if (options.last && command !== 'report') throw new WqError('option', '--last is only valid with report');
  const explicit = new Set(
    Object.keys(options).filter((k) => program.getOptionValueSource(COMMANDER_KEY[k] ?? k) === 'cli'),
  );
  return { command, args: rest ?? [], options, explicit };
}

/** Runs the CLI; returns the exit status. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ParsedCommandLine;
  try {
    const p = parseCommandLine(argv, io);
    if ('help' in p) {
      io.stdout(p.json ? renderEnvelope('help', 0, { help: p.help }, []) : p.help);
      return 0;
    }
    parsed = p;
  } catch (err) {
    const e = toWqError(err);
    io.stderr(`Error: ${e.message}\n`);
    const command = namedCommand(argv) ?? 'unknown';
    if (argv.includes('--json')) io.stdout(renderEnvelope(command, e.exitCode, null, [e.toRecord()]));
    return e.exitCode;
  }
  const envelope = await execute(parsed.command, parsed.args, parsed.options, io, {
    explicit: parsed.explicit,
    entryPoints: CLI_COMMANDS,
  });
  if (parsed.options.json) io.stdout(`${JSON.stringify(envelope)}\n`);
  return envelope.exitCode;
}

export { VERSION };
