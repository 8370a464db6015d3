import './require-node.ts';
import { VERSION } from './core/version.ts';

// The entry point reads as little as it can: `version` is answered here, every other command
// line loads the CLI (commander, the option model; a command's own modules load when it runs).
// Same output and exit status as the version command through the CLI (issue 17, cold start).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === 'version' || argv[0] === '-V' || argv[0] === '--version')) {
  process.stdout.write(`wyng-qubes ${VERSION}\n`);
} else {
  // help reads only the command table (no option model, no use case); anything else the whole CLI
  const [words, { nodeIo }] = await Promise.all([import('./cli/words.ts'), import('./cli/node-io.ts')]);
  const help = argv.some((a) => a === 'help' || a.startsWith('--h') || a === '-h' || /^-[a-zA-Z]*h/.test(a))
    ? words.helpRequested(argv)
    : undefined;
  if (help !== undefined) words.printHelp(help, nodeIo());
  else process.exitCode = await (await import('./cli/program.ts')).runCli(argv, nodeIo());
}
