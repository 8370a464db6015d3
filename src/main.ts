import './require-node.ts';
import { VERSION } from './core/version.ts';
import type { HelpTexts } from './cli/words.ts';

// The entry point reads as little as it can: `version` and the plain help command lines are
// answered here, every other command line loads the CLI (commander, the option model; a command's
// own modules load when it runs).
// Same output and exit status as the version command through the CLI (issue 17, cold start).
const argv = process.argv.slice(2);

/** The help texts, made from the command table when the bundle is built (scripts/build.mjs); not in tsx runs. */
declare const __WYNG_QUBES_HELP__: HelpTexts | undefined;
const HELP: HelpTexts | undefined = typeof __WYNG_QUBES_HELP__ === 'undefined' ? undefined : __WYNG_QUBES_HELP__;

/** The help of the plain help command lines (`--help`, `help backup`, `backup -h`, …); others: undefined. */
function builtHelp(words: readonly string[]): string | undefined {
  if (HELP === undefined) return undefined;
  const asks = (w: string | undefined): boolean => w === '--help' || w === '-h';
  const of = (c: string | undefined): string | undefined =>
    c !== undefined && Object.hasOwn(HELP.commands, c) ? HELP.commands[c] : undefined;
  if (words.length === 1) return asks(words[0]) || words[0] === 'help' ? HELP.overview : undefined;
  if (words.length !== 2) return undefined;
  const [a, b] = words;
  return a === 'help' || asks(a) ? of(b) : asks(b) ? of(a) : undefined;
}

const built = builtHelp(argv);
if (argv.length === 1 && (argv[0] === 'version' || argv[0] === '-V' || argv[0] === '--version')) {
  process.stdout.write(`wyng-qubes ${VERSION}\n`);
} else if (built !== undefined) {
  process.stdout.write(built);
} else {
  // the modules below are compiled once and kept, where the Node version can (adapters/compile-cache.ts)
  (await import('./adapters/compile-cache.ts')).enableCompileCache();
  // help reads only the command table (no option model, no use case); anything else the whole CLI
  const [words, { nodeIo }] = await Promise.all([import('./cli/words.ts'), import('./cli/node-io.ts')]);
  const help = argv.some((a) => a === 'help' || a.startsWith('--h') || a === '-h' || /^-[a-zA-Z]*h/.test(a))
    ? words.helpRequested(argv)
    : undefined;
  if (help !== undefined) words.printHelp(help, nodeIo());
  else process.exitCode = await (await import('./cli/program.ts')).runCli(argv, nodeIo());
}
