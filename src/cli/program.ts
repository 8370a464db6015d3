// The CLI: the command line (src/cli/words.ts) checked into the option model (zod), then the use case.
import { execute } from '../app/execute.ts';
import { renderEnvelope } from '../core/envelope.ts';
import { WqError, toWqError } from '../core/errors.ts';
import { CommonOptionsSchema, describeZodError } from '../core/options.ts';
import { VERSION } from '../core/version.ts';
import type { CliIo } from './io.ts';
import { CLI_COMMANDS } from './commands/index.ts';
import {
  modelOptions,
  namedCommand,
  printHelp,
  readCommandWords,
  type HelpRequest,
  type ParsedCommandLine,
} from './words.ts';

export { buildProgram, helpText, namedCommand, prefixOptions, type HelpRequest } from './words.ts';

/** Turns the command line into our zod-checked option model (or a help request). */
export function parseCommandLine(
  argv: readonly string[],
  io: Pick<CliIo, 'stdout' | 'stderr' | 'stdinIsTTY'>,
): ParsedCommandLine | HelpRequest {
  const words = readCommandWords(argv);
  if ('help' in words) return words;
  const { command, parser, opts: o } = words;
  const raw: Record<string, unknown> = {};
  for (const m of modelOptions()) raw[m.key] = m.value(o[m.attribute]);
  // Unattended is implied when stdin is not a terminal (README "Usage").
  raw.unattended = raw.unattended === true || !io.stdinIsTTY;
  // `--force`: past the space pre-flight, and --force-incomplete as 0.9 read it (its prefix there)
  const force = o.force === true;
  if (force) raw.forceIncomplete = raw.ignoreSpace = true;
  const parsed = CommonOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new WqError('option', describeZodError(parsed.error));
  const options = parsed.data;
  if (options.all && command !== 'list' && command !== 'prune') {
    throw new WqError('option', '--all is only valid with list and prune');
  }
  // The options added since 0.9 that only some commands accept are the table's business (optionError).
  if (options.expectPlan !== undefined && options.dryRun)
    throw new WqError('option', '--expect-plan cannot be combined with --dry-run');
  const explicit = new Set(
    modelOptions()
      .filter((m) => parser.getOptionValueSource(m.attribute) === 'cli')
      .map((m) => m.key),
  );
  if (force) for (const k of ['forceIncomplete', 'ignoreSpace']) explicit.add(k);
  return { command, args: [...parser.args], options, explicit };
}

/** Runs the CLI; returns the exit status. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ParsedCommandLine;
  try {
    const p = parseCommandLine(argv, io);
    if ('help' in p) {
      printHelp(p, io);
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
