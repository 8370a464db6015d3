// `npm run demo` prints only measured numbers (issue 16 defect 18): the damage it describes is
// what the simulator held, recorded figures are labelled, and README says what the demo does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.ts';

const run = promisify(execFile);

test('the demo describes what it measured, labels recorded figures, and README matches it', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'demo.ts')], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  assert.match(stdout, /RESULT: everything matched\./);
  // the damage line's "before" is what the restore plan then puts back
  const damage = /work: memory (\S+) → 1234, label (\S+) → green/.exec(stdout);
  assert.ok(damage, stdout);
  const plan = /memory: 1234 → (\S+)/.exec(stdout);
  assert.ok(plan);
  assert.equal(damage[1], plan[1], 'the memory the qube had');
  assert.match(stdout, new RegExp(`label: green → ${damage[2]!}`));
  const template = /work-clone: swap its template (\S+) for a new template fedora-42/.exec(stdout);
  assert.ok(template);
  assert.match(stdout, new RegExp(`template: fedora-42 → ${template[1]!.replace(/[.-]/g, '\\$&')}`));
  // wyng-util-qubes' figure is recorded, and said to be
  const util = /\((wyng-util-qubes[^)]*\))\)?/.exec(stdout);
  assert.ok(util, 'the wyng-util-qubes line');
  assert.match(util[1]!, /recorded/);
  assert.doesNotMatch(stdout, /\(wyng-util-qubes: 68–73 calls per qube\)/);
  // README's count is the demo's
  const backedUp = /backed up (\d+) qubes in session/.exec(stdout);
  assert.ok(backedUp);
  const listed = /^qubes: (.*)$/m.exec(stdout)![1]!.split(', ').length;
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const says = /back up the (\d+) qubes of a simulated Qubes system \((\d+) qubes besides dom0/.exec(readme);
  assert.ok(says, 'README says how many qubes the demo backs up');
  assert.equal(Number(says[1]), Number(backedUp[1]));
  assert.equal(Number(says[2]), listed);
});
