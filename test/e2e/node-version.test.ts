// The built program refuses an older Node.js before anything else runs: one line naming both
// versions, exit 1. process.versions.node is overridden by a preload module (--import).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BUNDLE } from '../helpers/cli.ts';

const asNode = (version: string): string =>
  `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'${version}'})`;

test('the bundle exits 1 on Node.js 16.20.2 and 18.18.2 with both versions, runs on 18.19.0', () => {
  for (const old of ['16.20.2', '18.18.2']) {
    const r = spawnSync(process.execPath, ['--import', asNode(old), BUNDLE, 'version', '--json'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '', 'nothing else ran');
    assert.equal(r.stderr, `wyng-qubes: Node.js 18.19.0 or newer required; this is Node.js ${old}.\n`);
  }
  const ok = spawnSync(process.execPath, ['--import', asNode('18.19.0'), BUNDLE, 'version'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^wyng-qubes \d+\.\d+\.\d+/);
});
