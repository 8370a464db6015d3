// Space pre-flight of a backup to a `file:` destination (issue 19 §3) against the simulator: the
// figures are shown and returned; a volume new to the archive counts its usage, one the archive
// already holds nothing (only its changes are sent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statfsSync, writeFileSync } from 'node:fs';
import { buildSandbox } from '../helpers/sim.ts';

interface Row {
  target: string;
  needed: number;
  free: number | null;
  short: boolean;
}

test('backup to file: shows needed and free bytes at the destination', { timeout: 120_000 }, async () => {
  const sim = await buildSandbox();
  try {
    const run = (args: string[]) => sim.cli(args);
    const created = await run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u']);
    assert.equal(created.code, 0, created.stderr);
    const path = sim.archiveUrl.slice('file:'.length);
    for (const q of ['work', 'personal'])
      writeFileSync(sim.qubesd.volumePath(q, 'private')!, Buffer.alloc(256 * 1024, 7));

    const first = await run(['backup', '--dest', sim.archiveUrl, '-u', '--json', 'work', 'personal']);
    assert.equal(first.code, 0, first.stderr);
    const a = (JSON.parse(first.stdout) as { result: { space: Row[] } }).result.space;
    assert.equal(a.length, 1);
    assert.equal(a[0]!.target, path);
    assert.equal(a[0]!.short, false);
    assert.ok(a[0]!.needed >= 2 * 256 * 1024, `both private volumes are new: ${a[0]!.needed}`);
    const s = statfsSync(path);
    assert.ok(Math.abs(a[0]!.free! - s.bavail * s.bsize) < 64 * 1048576, 'free is the file system free space');
    assert.match(first.stderr, /Space at the destination:\n {2}\S+: needs up to [0-9.]+ MiB, [0-9.]+ MiB free/);

    const second = await run(['backup', '--dest', sim.archiveUrl, '-u', '--json', 'work', 'personal']);
    assert.equal(second.code, 0, second.stderr);
    const b = (JSON.parse(second.stdout) as { result: { space: Row[] } }).result.space;
    assert.ok(a[0]!.needed > b[0]!.needed, `new volumes count (${a[0]!.needed}), known ones do not (${b[0]!.needed})`);
    assert.ok(b[0]!.needed > 0, 'the metadata tar still counts');
    assert.ok(b[0]!.needed < 1048576, 'the metadata tar is small');
  } finally {
    await sim.stop();
  }
});
