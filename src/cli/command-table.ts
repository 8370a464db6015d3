import { Option } from 'commander';
import { DRY_RUN_COMMANDS } from '../core/dry-run.ts';
import { WqError } from '../core/errors.ts';
import { COMMANDS, type CommandName } from '../core/commands.ts';
import { parseReachApprovals } from '../core/reach-approvals.ts';

// The command line's tables: every command with its usage and summary, every option with the
// commands it belongs to. src/cli/program.ts builds one commander subcommand per command from them.

/** Commands that run Wyng against an archive (`--dest`, `--authmin`, `-w`, … apply). */
const ARCHIVE: readonly CommandName[] = ['create', 'backup', 'restore', 'verify', 'prune', 'delete', 'list'];
/** Every command. */
const ALL: readonly CommandName[] = COMMANDS;

export interface CommandSpec {
  /** Its arguments as the usage line shows them. */
  args: string;
  /** One line: the overview lists it. */
  summary: string;
}

export const COMMAND_TABLE: Readonly<Record<CommandName, CommandSpec>> = {
  create: { args: '', summary: 'create a Wyng archive at --dest (encrypted; -w encrypt=off for none)' },
  backup: { args: '[QUBE ...]', summary: 'back up the qubes (data and settings) as one Wyng session' },
  restore: { args: '[QUBE ...]', summary: 'restore data and settings from a session (--dry-run: the plan only)' },
  verify: { args: '[QUBE ...]', summary: "check the qubes' volumes in one session (Wyng's verify)" },
  prune: { args: '[QUBE ...]', summary: 'remove sessions (--session S[,S2], --all-before, --all, --autoprune)' },
  delete: { args: 'QUBE', summary: "remove one qube's volumes from the archive" },
  list: { args: '[QUBE ...]', summary: 'archive overview; with names their sessions; --session: its qubes' },
  version: { args: '', summary: 'print the version (also -V, --version)' },
  profiles: { args: '[list|check]', summary: 'list the profiles of profiles.yaml, or check them' },
  rpc: { args: '[wyng.SERVICE|privileged]', summary: 'the qrexec service entry point (run by /etc/qubes-rpc)' },
  remote: { args: 'OPERATION [QUBE ...]', summary: "call dom0's qrexec service wyng.OPERATION+PROFILE from a qube" },
  schedule: { args: '[enable|disable|list] [PROFILE]', summary: "a profile's systemd timer" },
  report: { args: '[PROFILE]', summary: 'the run reports: last success, last failure, sizes' },
};

export interface OptionSpec {
  /** commander's flags: `-d, --dedup`, `--dest <url>`. */
  flags: string;
  help: string;
  /** The commands whose help shows it (and, unless `everywhere`, the only ones that accept it). */
  commands: readonly CommandName[];
  /**
   * wyng-util-qubes 0.9 has it: every command accepts it, as 0.9 accepted every option with every
   * command (ignored where it means nothing; hidden from that command's help), and a prefix that is
   * the start of one 0.9 option means that option, as in 0.9 (src/cli/option-prefix.ts).
   */
  v09?: true;
  /** Accepted by every command although not 0.9's (hidden where it is not listed). */
  everywhere?: true;
  /** Only its full name selects it (never the expansion of a prefix). */
  exact?: true;
  /** Choices, value parser, default. */
  setup?: (o: Option) => Option;
  /**
   * Its value in the option model (CommonOptionsSchema, key: the long name in camelCase, `--no-x` → noX).
   * Default: a flag is true when given (`--no-x`: noX true), a value is passed as given.
   */
  toModel?: (value: unknown) => unknown;
  /** Not part of the option model (-V selects the version command). */
  model?: false;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function intArg(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new WqError('option', `'${value}' is not an integer`);
  return Number(value);
}

type Extra = Partial<Pick<OptionSpec, 'v09' | 'everywhere' | 'exact' | 'setup' | 'toModel' | 'model'>>;
const V09: Extra = { v09: true };
const EXACT: Extra = { exact: true };
const REPEAT: Extra = { setup: (o) => o.argParser(collect) };
const choices = (values: string[]): Extra => ({ setup: (o) => o.choices(values) });
/** off/on → false/true */
const ON: Extra = { toModel: (v) => v === 'on' };
/** repeatable, each a comma-separated list of reach classes (checked here: an unknown class is refused) */
const REACH: Extra = {
  ...REPEAT,
  toModel: (v) => [...parseReachApprovals(((v as string[] | undefined) ?? []).flatMap((w) => w.split(',')))],
};
function opt(flags: string, commands: readonly CommandName[], help: string, ...extra: Extra[]): OptionSpec {
  return Object.assign({ flags, commands, help }, ...extra) as OptionSpec;
}
const REST: readonly CommandName[] = ['restore'];
const NOT_RPC: readonly CommandName[] = COMMANDS.filter((c) => c !== 'rpc');
const SESSION: readonly CommandName[] = ['restore', 'verify', 'prune', 'list', 'remote'];
const RESTORE_REMOTE: readonly CommandName[] = ['restore', 'remote'];
const DRY_RUN: readonly CommandName[] = [...DRY_RUN_COMMANDS, 'remote'];

/**
 * Every option, once, one line each: adding an option is adding its line here (and its key to
 * CommonOptionsSchema and to program.ts's option model). Their order is the help's order.
 */
export const OPTION_TABLE: readonly OptionSpec[] = [
  // wyng-util-qubes 0.9's options (its argparse table, in its order)
  opt('--dest <url>', ARCHIVE, 'URL location of the Wyng archive (passed to Wyng)', V09),
  opt('--authmin <n>', ARCHIVE, 'retain authentication for N minutes', V09, { setup: (o) => o.argParser(intArg) }),
  opt('--session <s>', SESSION, 'session YYYYMMDD-HHMMSS (prune: or a range S1,S2)', V09),
  opt('-d, --dedup', ['backup'], 'use deduplication', V09),
  opt('-i, --includes', ['backup'], 'select every qube marked "include in backups"', V09),
  opt('--exclude <name>', ['backup', 'restore', 'verify', 'remote'], 'leave this qube out', V09, REPEAT),
  opt('--check-after-send', ['backup'], 'check the new session after backup', V09),
  opt('--autoprune <mode>', ['backup', 'prune'], 'automatic pruning', V09, choices(['off', 'on', 'full'])),
  opt('--all-before', ['prune'], 'select all sessions before --session', V09),
  opt('--all', ['list', 'prune'], 'list: every session of every qube; prune: all sessions', V09),
  opt('--pref <spec>', REST, 'NAME::x skips property NAME (repeatable)', V09, REPEAT),
  opt('--pool-info', ['list'], 'show local storage pools', V09),
  opt('-p, --pool <pool>', REST, 'Qubes storage pool for the qubes restore creates', V09),
  opt('--wyng <path>', ARCHIVE, 'path of the Wyng executable', V09),
  opt('-w, --wyngopt <opt>', ARCHIVE, 'pass --OPT[=VAL] to Wyng (repeatable)', V09, REPEAT),
  opt('--no-snapshot-restore', REST, "don't restore from local snapshots", V09),
  opt('--no-auto-rename', ['backup'], "don't rename volumes between LVM and reflink names", V09),
  opt('--no-qubes-post', REST, 'skip qvm-sync-appmenus / qvm-appmenus after restore', V09),
  opt(
    '--include-disposable <mode>',
    ['restore', 'verify', 'remote'],
    'disposables too',
    V09,
    choices(['off', 'on']),
    ON,
  ),
  opt('--remap', ['backup'], 're-pair local snapshots with this archive', V09),
  opt('--force-incomplete', REST, 'restore templates/standalones with missing volumes', V09),
  opt('-u, --unattended', [...ARCHIVE, 'remote'], 'operate without prompts (implied without a terminal)', V09),
  opt('--verbose', ALL, 'more output', V09),
  opt('--debug', ALL, 'debug output (Admin API call log, Wyng argv)', V09),
  opt('--meta-dir <path>', ARCHIVE, 'Wyng metadata cache directory', V09),
  // added since 0.9: only the commands listed accept them
  // rpc prints its own document: it refuses --json itself ("do not pass --json"), its help leaves it out
  opt('--json', NOT_RPC, 'print one JSON document on stdout (human text goes to stderr)', { everywhere: true }),
  opt('--profile <name>', [...ARCHIVE, 'remote', 'schedule', 'report'], 'use a profile from profiles.yaml'),
  opt('--progress <format>', ['backup', 'restore', 'verify'], 'progress events on stderr', choices(['json'])),
  opt('--dry-run', DRY_RUN, 'show what it would do, change nothing'),
  opt('--ignore-missing', REST, 'fall back to system defaults for referenced qubes that do not exist'),
  opt('--allow-reach <classes>', REST, 'apply reach changes: devices,network,gui,tags,features,class,all', REACH),
  opt('--trust-unauthenticated', REST, 'run from an unauthenticated archive (reach changes withheld)'),
  opt('--expect-plan <digest>', RESTORE_REMOTE, 'refuse unless the plan digest (--dry-run --json) matches', EXACT),
  opt('--allow-rollback', REST, "restore qubes older than dom0's record of its backups", EXACT),
  opt('--as <name>', RESTORE_REMOTE, 'restore the one named qube alongside, under this new name'),
  opt('--rename-conflicting', REST, 'restore a qube whose name another class has as NAME1, NAME2, …'),
  opt('--keep-plan', REST, 'with --dry-run: keep what the plan was made from (result.planId)', EXACT),
  opt('--from-plan <id>', REST, 'restore a kept plan without fetching it again; needs --expect-plan', EXACT),
  // 0.9 read `--force` as its prefix of --force-incomplete: it still implies that (program.ts)
  opt(
    '--force',
    ['backup', 'restore'],
    'go on although the space pre-flight refuses; restore: also ' + '--force-incomplete',
    EXACT,
    { model: false },
  ),
  opt(
    '--ignore-space',
    ['backup', 'restore'],
    'go on although the space pre-flight refuses (--force without the rest)',
  ),
  opt('--dom0-home', ['backup', 'restore'], "backup: add dom0's home; restore: extract it to ~/home-restore-S"),
  opt('--dom0-user <name>', ['backup', 'restore'], 'whose dom0 home (default: the user who ran sudo)'),
  opt('--dom0-home-exclude <path>', ['backup'], 'leave this path of the home out (default .cache)', REPEAT),
  opt('--last', ['report'], 'show the newest report in full'),
  opt('-V, --version', ['version'], 'print the version (as the version command)', EXACT, {
    everywhere: true,
    model: false,
  }),
];

/** Whether `command` accepts the option (its help may still hide it). */
export function accepts(spec: OptionSpec, command: CommandName): boolean {
  return spec.v09 === true || spec.everywhere === true || spec.commands.includes(command);
}

/** An option of every command that uses an archive (the overview shows these, each command's help apart). */
export function isCommon(spec: OptionSpec): boolean {
  return ARCHIVE.every((c) => spec.commands.includes(c));
}

/**
 * The option as commander's Option. For a command's help: hidden where the command does not list it,
 * the common options under their own heading. For the overview (no command): the common ones and -V.
 */
export function makeOption(spec: OptionSpec, command?: CommandName): Option {
  const o = new Option(spec.flags, spec.help);
  if (command === undefined ? !isCommon(spec) && spec.everywhere !== true : !spec.commands.includes(command))
    o.hideHelp();
  if (command !== undefined && isCommon(spec)) o.helpGroup('Common options:');
  return spec.setup === undefined ? o : spec.setup(o);
}

/** The table's entry for an option word (`--as`, `-p`, `--allow-re`: a unique prefix), if any. */
export function findOption(word: string): OptionSpec | undefined {
  const name = word.startsWith('--') ? word.split('=')[0]! : word.slice(0, 2);
  const names = (s: OptionSpec): string[] => s.flags.split(/[ ,]+/).filter((f) => f.startsWith('-'));
  const exact = OPTION_TABLE.find((s) => names(s).includes(name));
  if (exact !== undefined || !name.startsWith('--') || name.length <= 2) return exact;
  const matches = OPTION_TABLE.filter((s) => names(s).some((n) => n.startsWith(name)));
  return matches.length === 1 ? matches[0] : undefined;
}

/** "restore", "restore and remote", "create, backup and delete". */
export function commandList(commands: readonly string[]): string {
  return commands.length <= 1 ? commands.join('') : `${commands.slice(0, -1).join(', ')} and ${commands.at(-1)!}`;
}
