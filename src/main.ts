import './require-node.ts';
import { VERSION } from './core/version.ts';

// The entry point reads as little as it can: `version` is answered here, every other command
// line loads the CLI (commander, the option model; a command's own modules load when it runs).
// Same output and exit status as the version command through the CLI (issue 17, cold start).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === 'version' || argv[0] === '-V' || argv[0] === '--version')) {
  process.stdout.write(`wyng-qubes ${VERSION}\n`);
} else {
  const [{ runCli }, { nodeIo }] = await Promise.all([import('./cli/program.ts'), import('./cli/node-io.ts')]);
  process.exitCode = await runCli(argv, nodeIo());
}
