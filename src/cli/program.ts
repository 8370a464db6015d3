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
import { VERSION } from '../core/version.ts';
import type { CliIo } from './io.ts';
import { CLI_COMMANDS } from './commands/index.ts';

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
    .argument('<command>', `one of: ${COMMANDS.join(', ')}`)
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
    .option('--profile <name>', 'use a profile from profiles.yaml')
    .option('--last', 'report: show the newest report in full')
    .addOption(new Option('--progress <format>', 'progress events on stderr').choices(['json']))
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

/** Turns commander's raw option bag into our zod-checked option model. */
export function parseCommandLine(
  argv: readonly string[],
  io: Pick<CliIo, 'stdout' | 'stderr' | 'stdinIsTTY'>,
): ParsedCommandLine | { help: true } {
  const program = buildProgram(io);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { help: true };
      throw new WqError('option', err.message.replace(/^error: /, ''));
    }
    throw err;
  }
  const [commandRaw, rest] = program.processedArgs as [string, string[] | undefined];
  if (!(COMMANDS as readonly string[]).includes(commandRaw)) {
    throw new WqError('option', `unknown command '${commandRaw}' (expected one of: ${COMMANDS.join(', ')})`);
  }
  const command = commandRaw as CommandName;
  const o = program.opts<Record<string, unknown>>();
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
    forceIncomplete: o.forceIncomplete === true,
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
    profile: o.profile,
    progress: o.progress,
    last: o.last === true,
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
    if ('help' in p) return 0;
    parsed = p;
  } catch (err) {
    const e = toWqError(err);
    io.stderr(`Error: ${e.message}\n`);
    if (argv.includes('--json')) io.stdout(renderEnvelope('unknown', e.exitCode, null, [e.toRecord()]));
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
