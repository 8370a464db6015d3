import './require-node.ts';
import { runCli } from './cli/program.ts';
import { nodeIo } from './cli/node-io.ts';

const code = await runCli(process.argv.slice(2), nodeIo());
process.exitCode = code;
