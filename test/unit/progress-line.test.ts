// Issue 16: the progress of a Wyng run over known volumes — MiB done, rate, time left — for the
// terminal line and the `--progress=json` events; Wyng's percent lines as recorded from Wyng 0.8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { receiveProgressVolume, sendProgressVolume, wyngPercent } from '../../src/adapters/wyng/output.ts';
import { formatProgressLine, VolumeProgress } from '../../src/core/progress.ts';
import { wyngTranscriptsDir } from '../helpers/test-data.ts';

const MIB = 1024 * 1024;

const stdoutOf = (name: string): string =>
  (JSON.parse(readFileSync(join(wyngTranscriptsDir(), `${name}.json`), 'utf8')) as { stdout: string }).stdout;

/** [volume, percents] in the order Wyng printed them */
function percentsPerVolume(stdout: string, volumeOf: (l: string) => string | undefined): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  for (const line of stdout.split(/\r|\n/)) {
    const v = volumeOf(line);
    if (v !== undefined) out.push([v, []]);
    else {
      const p = wyngPercent(line);
      if (p !== undefined) out.at(-1)![1].push(p);
    }
  }
  return out;
}

test("Wyng's percent lines: verify and verbose receive (bar), attended send (MB, spinner)", () => {
  for (const name of ['e10-verify', 'u14-receive-s2-attended-verbose']) {
    const vols = percentsPerVolume(stdoutOf(name), receiveProgressVolume);
    assert.ok(vols.length > 0, name);
    for (const [v, ps] of vols) {
      assert.ok(ps.length > 10, `${name} ${v}: ${ps.length} percent lines`);
      assert.equal(ps[0], 0);
      assert.equal(ps.at(-1), 100, `${name} ${v} ends at 100%`);
      assert.deepEqual(
        [...ps].sort((a, b) => a - b),
        ps,
        'never goes back',
      );
    }
  }
  const send = percentsPerVolume(stdoutOf('i08b-send-attended-big'), sendProgressVolume);
  assert.deepEqual(
    send.find(([v]) => v === 'appvms/big/private.img')?.[1],
    [5, 10, 15, 16, 20, 25, 26, 30, 35, 36, 40, 45],
  );
  // unattended receive and send: only the closing 100%
  const recv = percentsPerVolume(stdoutOf('e08-receive-s1'), receiveProgressVolume);
  assert.ok(
    recv.every(([, ps]) => ps.join() === '100'),
    JSON.stringify(recv),
  );
  const sent = percentsPerVolume(stdoutOf('e03-send-s1'), sendProgressVolume);
  assert.ok(sent.length === 5 && sent.every(([, ps]) => ps.join() === '100'), JSON.stringify(sent));
});

test('other lines carry no percent', () => {
  for (const line of [
    '    200.0MB |  3s ',
    '  no change',
    "Receiving volume 'appvms/work/private.img' 20261123-034732",
    '5 volumes, 192——>32 MB in 0.7 seconds.',
    '[||||] 250.0% ',
    'Saving 100% to file',
  ])
    assert.equal(wyngPercent(line), undefined, line);
});

test('bytes done: finished volumes plus the percent of the current one; rate and time left from them', () => {
  const p = new VolumeProgress(
    [
      { name: 'wyng-qubes-metadata', bytes: 1 * MIB },
      { name: 'appvms/work/private.img', bytes: 40 * MIB },
      { name: 'vm-templates/debian-12/root.img', bytes: 59 * MIB },
      { name: 'vm-templates/debian-12/private.img', bytes: undefined },
    ],
    1_000,
  );
  const a = p.start('wyng-qubes-metadata', 1_000);
  assert.deepEqual(
    [a.index, a.total, a.qube, a.bytesDone, a.bytesTotal, a.rate, a.etaSeconds],
    [1, 4, null, 0, 100 * MIB, null, null],
  );
  const b = p.start('appvms/work/private.img', 2_000);
  assert.deepEqual([b.qube, b.qubeIndex, b.qubeTotal, b.bytesDone, b.rate, b.etaSeconds], ['work', 1, 2, MIB, MIB, 99]);
  const c = p.percent(50, 3_000)!;
  assert.deepEqual([c.bytesDone, c.rate, c.etaSeconds], [21 * MIB, 10.5 * MIB, 8]);
  assert.equal(p.percent(20, 3_500)!.bytesDone, 21 * MIB, 'a lower percent never takes the figure back');
  const d = p.start('vm-templates/debian-12/root.img', 5_000);
  assert.deepEqual([d.index, d.qube, d.qubeIndex, d.bytesDone], [3, 'debian-12', 2, 41 * MIB]);
  const e = p.start('vm-templates/debian-12/private.img', 9_000);
  assert.deepEqual([e.index, e.qubeIndex, e.bytesDone, e.etaSeconds], [4, 2, 100 * MIB, 0]);
  assert.equal(p.percent(50, 9_500)!.bytesDone, 100 * MIB, 'an unknown size adds nothing');
  const f = p.finish(10_000);
  assert.deepEqual(
    [f.index, f.finished, f.bytesDone, f.bytesTotal, f.elapsedMs, f.rate],
    [4, true, 100 * MIB, 100 * MIB, 9_000, Math.round((100 * MIB) / 9)],
  );
});

test('a volume Wyng announces beyond the list raises the total; percent before any volume is ignored', () => {
  const p = new VolumeProgress([{ name: 'a', bytes: 10 }], 0);
  assert.equal(p.percent(50, 1), undefined);
  p.start('a', 1);
  const s = p.start('b', 2);
  assert.deepEqual([s.index, s.total, s.bytesDone, s.bytesTotal], [2, 2, 10, 10]);
});

test('the terminal line: volume i of n, qube j of m, MiB done, rate, elapsed, time left; names escaped', () => {
  const p = new VolumeProgress(
    [
      { name: 'appvms/work/private.img', bytes: 10 * MIB },
      { name: 'vm-evil\x1b[2J-private', bytes: 30 * MIB },
    ],
    0,
  );
  assert.equal(
    formatProgressLine(p.start('appvms/work/private.img', 0)),
    '[volume 1 of 2, qube 1 of 1: work] appvms/work/private.img — 0.0 of 40.0 MiB, 0 s',
  );
  // (the second name is no valid qube name: no qube part, and its control characters are escaped)
  assert.equal(
    formatProgressLine(p.start('vm-evil\x1b[2J-private', 4_000)),
    '[volume 2 of 2] vm-evil\\x1b[2J-private — 10.0 of 40.0 MiB, 2.5 MiB/s, 4 s, about 12 s left',
  );
  assert.equal(formatProgressLine(p.finish(16_000)), '[done: 2 volume(s)] 40.0 MiB in 16 s, 2.5 MiB/s');
  const unknown = new VolumeProgress([{ name: 'appvms/x/private.img' }], 0);
  assert.equal(
    formatProgressLine(unknown.start('appvms/x/private.img', 2_000)),
    '[volume 1 of 1, qube 1 of 1: x] appvms/x/private.img — 2 s',
  );
  assert.equal(formatProgressLine(unknown.finish(3_000)), '[done: 1 volume(s)] 3 s');
});
