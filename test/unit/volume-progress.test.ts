// Issue 16: what one Wyng run reports — `--progress=json` events with byte figures (a `bytes`
// event at most once a second inside a volume, and one at the end), the terminal's lines, or nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { volumeProgress, type ProgressContext } from '../../src/app/progress.ts';

const MIB = 1024 * 1024;
const VOLUMES = [
  { name: 'appvms/work/private.img', bytes: 10 * MIB },
  { name: 'appvms/vault/private.img', bytes: 30 * MIB },
];

function run(
  opts: { progress?: 'json'; json?: boolean; tty?: boolean },
  drive: (h: ReturnType<typeof volumeProgress>, tick: (ms: number) => void) => void,
): string {
  let out = '';
  let t = 0;
  const ctx: ProgressContext = {
    options: { json: opts.json ?? false, ...(opts.progress ? { progress: opts.progress } : {}) },
    io: { stderr: (s) => void (out += s), ...(opts.tty ? { stderrIsTTY: true } : {}) },
  };
  const h = volumeProgress(ctx, VOLUMES, () => t);
  drive(h, (ms) => void (t += ms));
  return out;
}

const events = (out: string): Array<Record<string, unknown>> =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('--progress=json: volume events, throttled bytes events inside a volume, a last bytes event at the total', () => {
  const out = run({ progress: 'json' }, (h, tick) => {
    h.onVolume!('appvms/work/private.img');
    tick(200);
    h.onPercent!(50); // within a second of the volume event: no event
    tick(900);
    h.onPercent!(60); // 1.1 s: an event
    tick(100);
    h.onPercent!(70); // 0.1 s later: none
    tick(1000);
    h.onPercent!(70); // a second after the last event, the figure moved since: an event
    tick(1000);
    h.onPercent!(70); // nothing new: none
    h.onVolume!('appvms/vault/private.img');
    tick(2000);
    h.onPercent!(50);
    tick(1000);
    h.finish();
  });
  const evs = events(out);
  assert.deepEqual(
    evs.map((e) => [e.event, e.index, e.total, e.bytesDone, e.bytesTotal]),
    [
      ['volume', 1, 2, 0, 40 * MIB],
      ['bytes', 1, 2, 6 * MIB, 40 * MIB],
      ['bytes', 1, 2, 7 * MIB, 40 * MIB],
      ['volume', 2, 2, 10 * MIB, 40 * MIB],
      ['bytes', 2, 2, 25 * MIB, 40 * MIB],
      ['bytes', 2, 2, 40 * MIB, 40 * MIB],
    ],
  );
  assert.deepEqual(
    evs.map((e) => e.rate),
    [
      null,
      Math.round((6 * MIB) / 1.1),
      Math.round((7 * MIB) / 2.2),
      Math.round((10 * MIB) / 3.2),
      Math.round((25 * MIB) / 5.2),
      Math.round((40 * MIB) / 6.2),
    ],
  );
  assert.equal(evs.at(-1)!.etaSeconds, 0);
  for (const e of evs) assert.match(String(e.time), /^\d{4}-/);
  assert.ok(!out.includes('[volume'), 'no terminal line under --progress=json');
});

test('--json --progress=json keeps Wyng out of stderr; --progress=json alone and a terminal pass it through', () => {
  const ctx = (json: boolean, progress?: 'json'): ProgressContext => ({
    options: { json, ...(progress ? { progress } : {}) },
    io: { stderr: () => undefined, stderrIsTTY: true },
  });
  assert.equal(volumeProgress(ctx(true, 'json'), VOLUMES).passthrough, false);
  assert.equal(volumeProgress(ctx(false, 'json'), VOLUMES).passthrough, true);
  assert.equal(volumeProgress(ctx(true), VOLUMES).passthrough, true);
});

test('a terminal: one line per volume and a closing line; percents draw nothing (Wyng shows its bar)', () => {
  const out = run({ tty: true }, (h, tick) => {
    h.onVolume!('appvms/work/private.img');
    tick(2000);
    h.onPercent!(50);
    tick(2000);
    h.onVolume!('appvms/vault/private.img');
    tick(4000);
    h.finish();
  });
  assert.equal(
    out,
    '\n[volume 1 of 2, qube 1 of 2: work] appvms/work/private.img — 0.0 of 40.0 MiB, 0 s\n' +
      '\n[volume 2 of 2, qube 2 of 2: vault] appvms/vault/private.img — 10.0 of 40.0 MiB, 2.5 MiB/s, 4 s, ' +
      'about 12 s left\n' +
      '\n[done: 2 volume(s)] 40.0 MiB in 8 s, 5.0 MiB/s\n',
  );
});

test('no terminal and no --progress (e.g. -u from cron): nothing at all', () => {
  let called = false;
  const out = run({}, (h) => {
    assert.equal(h.onVolume, undefined);
    assert.equal(h.onPercent, undefined);
    h.finish();
    called = true;
  });
  assert.ok(called);
  assert.equal(out, '');
});
