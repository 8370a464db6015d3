#!/usr/bin/env node
// Runs node's built-in test runner (with the tsx loader) over every *.test.ts file below the
// given directories (or the given test files). Node 20's `--test` does not expand globs itself,
// hence this small walker.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const dirs = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(relative(process.cwd(), path));
  }
}
for (const d of dirs) {
  if (!existsSync(d)) continue;
  if (statSync(d).isDirectory()) walk(d);
  else if (d.endsWith('.test.ts')) files.push(d);
}
if (files.length === 0) {
  console.error(`no test files found under: ${dirs.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.WYNG_QUBES_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
