// Issue 16: progress of backup, restore and verify in bytes. `--progress=json` events carry
// bytesDone / bytesTotal / rate, never going back and ending at bytesTotal — the session's volume
// sizes for restore and verify (the same figures `list` shows), the volume sizes plus the metadata for
// backup. On a terminal (stderr) one line per volume with the MiB done, and a closing line; without a
// terminal (-u from cron, a pipe) none.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSandbox } from '../helpers/sim.ts';
import { restoreLab, type RestoreLab } from '../helpers/restore-lab.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

type Event = Record<string, unknown>;

function events(stderr: string): Event[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{"time":'))
    .map((l) => JSON.parse(l) as Event);
}

/** The volume and bytes events: bytesDone never goes back and ends at bytesTotal, the same total throughout. */
function assertBytes(evs: Event[], what: string): { total: number; volumes: Event[] } {
  const figures = evs.filter((e) => e.event === 'volume' || e.event === 'bytes');
  assert.ok(figures.length > 0, what);
  const done = figures.map((e) => e.bytesDone as number);
  for (let i = 1; i < done.length; i++) assert.ok(done[i]! >= done[i - 1]!, `${what}: ${done.join(' ')}`);
  const totals = new Set(figures.map((e) => e.bytesTotal));
  assert.equal(totals.size, 1, `${what}: one total`);
  const total = figures[0]!.bytesTotal as number;
  assert.ok(total > 0, what);
  const last = figures.at(-1)!;
  assert.deepEqual([last.event, last.bytesDone, last.etaSeconds], ['bytes', total, 0], what);
  assert.ok(last.rate === null || (typeof last.rate === 'number' && last.rate > 0), what);
  const volumes = figures.filter((e) => e.event === 'volume');
  assert.equal(volumes[0]!.bytesDone, 0, `${what}: nothing done before the first volume`);
  assert.ok(done.at(-2)! < total, `${what}: the last volume is done only at the end`);
  return { total, volumes };
}

/** Bytes of these qubes in the session, as `list --session` shows them. */
async function listedBytes(qubes: string[]): Promise<number> {
  const r = await lab.cli(['list', '--dest', lab.sim.archiveUrl, '--json', '--session', lab.session]);
  assert.equal(r.code, 0, r.stderr);
  const listed = (r.json!.result as { session: { qubes: Array<{ name: string; bytes: number }> } }).session.qubes;
  return listed.filter((q) => qubes.includes(q.name)).reduce((n, q) => n + q.bytes, 0);
}

test('verify --progress=json: bytes of the session volumes, as list shows them', async () => {
  const r = await lab.cli([
    'verify',
    '--dest',
    lab.sim.archiveUrl,
    '-u',
    '--json',
    '--progress=json',
    '--session',
    lab.session,
    'work',
    'fedora-41',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const { total, volumes } = assertBytes(events(r.stderr), 'verify');
  assert.equal(total, await listedBytes(['work', 'fedora-41']));
  assert.equal(volumes.length, 3);
  assert.deepEqual(
    volumes.map((e) => [e.index, e.total]),
    [
      [1, 3],
      [2, 3],
      [3, 3],
    ],
  );
});

test('restore --progress=json: bytes of the received volumes', async () => {
  const r = await lab.restore(['--progress=json', '--session', lab.session, 'work', 'personal']);
  assert.equal(r.code, 0, r.stderr);
  const { total, volumes } = assertBytes(events(r.stderr), 'restore');
  assert.equal(total, await listedBytes(['work', 'personal']));
  assert.equal(volumes.length, 2);
});

test('backup --progress=json: the sizes of the volumes plus the metadata', async () => {
  const r = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', '--progress=json', 'vault', 'work']);
  assert.equal(r.code, 0, r.stderr);
  const { total, volumes } = assertBytes(events(r.stderr), 'backup');
  let sizes = 0;
  for (const q of ['vault', 'work']) sizes += (await lab.client().volumeInfo(q, 'private')).size;
  const metadata = total - sizes;
  assert.ok(metadata > 0 && metadata < 1024 * 1024, `the metadata tar: ${metadata} bytes`);
  assert.equal(volumes[0]!.name, 'wyng-qubes-metadata');
  assert.equal(volumes[1]!.bytesDone, metadata, 'the metadata is done when the first qube volume starts');
});

test('backup --dom0-home --progress=json: the home archive is one more volume, in bytes', async () => {
  const homeRoot = join(lab.sim.dir, 'home');
  mkdirSync(join(homeRoot, 'alice'), { recursive: true });
  writeFileSync(join(homeRoot, 'alice', 'notes.txt'), 'x'.repeat(4096));
  const groups = join(lab.sim.dir, 'group');
  writeFileSync(groups, 'qubes:x:1000:alice\n');
  const env = { ...lab.sim.env, WYNG_QUBES_HOME_ROOT: homeRoot, WYNG_QUBES_GROUP_FILE: groups };
  const r = await lab.cli(
    ['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', '--progress=json', '--dom0-home', 'work'],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  const evs = events(r.stderr);
  const { volumes } = assertBytes(evs, 'backup --dom0-home');
  assert.equal(evs.find((e) => e.event === 'send')!.volumes, 3);
  assert.equal(volumes.length, 3);
  assert.ok(volumes.every((e) => e.total === 3));
});

test('a terminal on stderr: one line per volume with qube, MiB done and total, then a closing line', async () => {
  const args = ['restore', '--dest', lab.sim.archiveUrl, '-u', '--no-qubes-post', '--allow-reach=all'];
  const r = await lab.sim.cli([...args, '--session', lab.session, 'work', 'fedora-41'], { stderrIsTTY: true });
  assert.equal(r.code, 0, r.stderr);
  const total = await listedBytes(['work', 'fedora-41']);
  const mib = (total / 1024 / 1024).toFixed(1);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('[volume ') || l.startsWith('[done'));
  assert.equal(lines.length, 4, r.stderr);
  assert.match(
    lines[0]!,
    new RegExp(`^\\[volume 1 of 3, qube 1 of 2: (work|fedora-41)\\] \\S+ — 0\\.0 of ${mib} MiB, \\d+ s$`),
  );
  assert.match(lines[1]!, /^\[volume 2 of 3, qube \d of 2: (work|fedora-41)\] \S+ — \d+\.\d of /);
  assert.match(lines[3]!, new RegExp(`^\\[done: 3 volume\\(s\\)\\] ${mib} MiB in \\d+ s`));

  const quiet = await lab.sim.cli([...args, '--session', lab.session, 'work']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /\[volume |\[done/, 'no terminal: no progress line');
});
