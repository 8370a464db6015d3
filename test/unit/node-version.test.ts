import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.ts';
import { NODE_FLOOR, nodeVersionProblem } from '../../src/node-version.ts';

test('the Node.js floor: 18.19.0 and newer run, older ones are named with the floor', () => {
  for (const ok of ['18.19.0', '18.19.1', '18.20.8', '20.20.2', '22.0.0', 'v18.19.0', '24.1.0-pre'])
    assert.equal(nodeVersionProblem(ok), undefined, ok);
  for (const old of ['18.18.2', '18.0.0', '16.20.2', '17.99.99', '4.2.6', 'junk', ''])
    assert.equal(nodeVersionProblem(old), `Node.js 18.19.0 or newer required; this is Node.js ${old}.`, old);
  // Compared as numbers, not strings.
  assert.equal(nodeVersionProblem('9.0.0', '10.0.0') !== undefined, true);
  assert.equal(nodeVersionProblem('18.100.0', '18.19.0'), undefined);
  assert.equal(nodeVersionProblem('18.19.10', '18.19.9'), undefined);
});

test('the floor is the one package.json declares', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  assert.equal(pkg.engines.node, `>=${NODE_FLOOR.replace(/\.0$/, '')}`);
});
