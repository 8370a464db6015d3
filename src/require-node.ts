// Imported first by main.ts, so it runs before any other module of the bundle: an older
// Node.js gets one clear line and exit 1 (as wyng-util-qubes does for an older Python),
// not a stack trace from some dependency.
import { nodeVersionProblem } from './node-version.ts';

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`wyng-qubes: ${problem}\n`);
  process.exit(1);
}
