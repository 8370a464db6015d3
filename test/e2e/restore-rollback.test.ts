// Rollback of single qubes is detected (issue 14 §5), end to end: dom0's record of its backups
// (state dir, backups.json) against an archive changed behind dom0's back with the fake Wyng
// itself — a session pruned directly (not through wyng-qubes) and a different metadata volume in
// the same session name. Unattended → the qube is refused (exit 2, nothing written to it);
// --allow-rollback or the profile's restore.allow_rollback → restored; attended → asked.
// An explicit older --session is only noted; a machine without a record says it cannot check.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupRecordSchema } from '../../src/core/restore/rollback.ts';
import { replaceSessionVolume } from '../helpers/archive-tamper.ts';
import { restoreLab, writes, type LabRun, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';
import { makeTgz } from '../helpers/tarball.ts';

let lab: RestoreLab;
/** S1: every lab qube (the lab's backup); S2: work only (pruned behind dom0's back); S3: all but work */
let S1: string;
let S2: string;
let S3: string;

interface RollbackJson {
  checked: boolean;
  note?: string;
  findings: Array<{ qube: string; kind: string; stops: boolean; message: string }>;
}

async function backup(...qubes: string[]): Promise<string> {
  const r = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', ...qubes]);
  assert.equal(r.code, 0, r.stderr);
  return (r.json!.result as { session: string }).session;
}

before(async () => {
  lab = await restoreLab(await buildSandbox());
  S1 = lab.session;
  S2 = await backup('work');
  S3 = await backup(...lab.qubes.filter((q) => q !== 'work'));
  // The storage side rolls work back with Wyng itself. Wyng never prunes a volume's newest session,
  // so it first sends a session of work's volume without the metadata volume (S4: no Qubes session),
  // then prunes S2 from every volume: work's S2 merges into S4, the metadata's S2 into S3, and work's
  // newest Qubes session is S1 again.
  const fakeWyng = async (args: string[], extra: Record<string, string> = {}): Promise<void> => {
    const r = await lab.sim.fakeWyng(args, extra);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  };
  const localFrom = join(lab.sim.dir, 'attacker-vols.json');
  const vol = 'appvms/work/private.img';
  const volPath = lab.sim.qubesd.volumePath('work', 'private')!;
  assert.ok(volPath.endsWith(`/${vol}`), volPath);
  writeFileSync(localFrom, JSON.stringify({ [volPath.slice(0, -vol.length - 1)]: [[vol, vol]] }));
  await fakeWyng([`--local-from=${localFrom}`, '--send-unchanged', 'send'], {
    WYNG_FAKE_NOW: String(Math.floor(Date.now() / 1000) + 3600),
  });
  await fakeWyng([`--session=${S2}`, 'prune', '--all']);
});

after(async () => {
  await lab?.stop();
});

function rollbackOf(r: LabRun): RollbackJson {
  return (r.json!.result as { rollback: RollbackJson }).rollback;
}

async function damageWork(): Promise<void> {
  await lab.client().setProperty('work', 'memory', 1234);
}

async function memoryOfWork(): Promise<string> {
  return (await lab.client().getProperty('work', 'memory')).value ?? '';
}

test("dom0's record: every session wyng-qubes sent, its qubes and the metadata digest; 0600", () => {
  const path = join(lab.sim.stateDir, 'backups.json');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const record = BackupRecordSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  const sessions = Object.values(record.archives)[0]!;
  assert.deepEqual(Object.keys(sessions).sort(), [S1, S2, S3]);
  assert.deepEqual(sessions[S2]!.qubes, ['work']);
  assert.ok(sessions[S1]!.qubes.includes('vault'));
  assert.match(sessions[S3]!.metadataSha256, /^[0-9a-f]{64}$/);
});

test('newest session pruned behind dom0 back, unattended: work refused (exit 2), nothing written to it', async () => {
  await damageWork();
  const m = lab.mark();
  const r = await lab.restore(['work']);
  assert.equal(r.code, 2, `${r.stderr}\n${r.stdout}`);
  assert.equal((r.json!.result as { session: string }).session, S1, 'newest Qubes session of work is now S1');
  const rb = rollbackOf(r);
  assert.equal(rb.checked, true);
  assert.deepEqual(
    rb.findings.map((f) => [f.qube, f.kind, f.stops]),
    [['work', 'newer-session-missing', true]],
  );
  const error = r.json!.errors.find((e) => e.qube === 'work');
  assert.match(error?.message ?? '', new RegExp(`${S2}.*no longer holds.*--allow-rollback`));
  assert.deepEqual(
    writes(lab.callsSince(m)).filter((w) => w.endsWith(' work')),
    [],
    'no write to work',
  );
  assert.equal(await memoryOfWork(), '1234');
});

test('the dry run shows the rollback as an error of work (unattended)', async () => {
  const r = await lab.restore(['--dry-run', 'work']);
  assert.equal(r.code, 2);
  const plan = (r.json!.result as { plan: { qubes: Array<{ name: string; fails: boolean; problems: unknown[] }> } })
    .plan;
  assert.equal(plan.qubes[0]!.fails, true);
  assert.match(JSON.stringify(plan.qubes[0]!.problems), /no longer holds/);
});

test('--allow-rollback: work restored from the older session, the finding reported', async () => {
  await damageWork();
  const r = await lab.restore(['--allow-rollback', 'work']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(rollbackOf(r).findings[0]?.kind, 'newer-session-missing');
  assert.equal(await memoryOfWork(), lab.archived.get('work')!.properties.memory);
});

test('attended: asked; no → work not restored; yes → restored', async () => {
  const attended = (confirm: boolean): Promise<LabRun> =>
    lab.cli(['restore', '--allow-reach=all', '--dest', lab.sim.archiveUrl, '--no-qubes-post', '--json', 'work'], {
      confirm,
    });
  await damageWork();
  const no = await attended(false);
  assert.equal(no.code, 2, no.stderr);
  assert.match(no.stderr, /no longer holds/);
  assert.equal(await memoryOfWork(), '1234');
  const yes = await attended(true);
  assert.equal(yes.code, 0, yes.stderr);
  assert.equal(await memoryOfWork(), lab.archived.get('work')!.properties.memory);
});

test('profile restore.allow_rollback: true approves it; the profile schema refuses other keys', async () => {
  const etc = lab.sim.configDir;
  mkdirSync(etc, { recursive: true });
  const write = (restore: string): void =>
    writeFileSync(
      join(etc, 'profiles.yaml'),
      `profiles:\n  lab:\n    dest: ${JSON.stringify(lab.sim.archiveUrl)}\n    restore: ${restore}\n`,
    );
  await damageWork();
  write('{ allow_rollback: false }');
  const refused = await lab.cli([
    'restore',
    '--allow-reach=all',
    '--profile',
    'lab',
    '-u',
    '--no-qubes-post',
    '--json',
    'work',
  ]);
  assert.equal(refused.code, 2, refused.stderr);
  write('{ allow_rollback: true }');
  const allowed = await lab.cli([
    'restore',
    '--allow-reach=all',
    '--profile',
    'lab',
    '-u',
    '--no-qubes-post',
    '--json',
    'work',
  ]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(await memoryOfWork(), lab.archived.get('work')!.properties.memory);
  write('{ allow_rollbak: true }');
  const typo = await lab.cli(['restore', '--allow-reach=all', '--profile', 'lab', '-u', '--json', 'work']);
  assert.equal(typo.code, 9, typo.stderr);
});

test('an explicit older --session is only noted', async () => {
  await damageWork();
  const r = await lab.restore(['--session', S1, 'work']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    rollbackOf(r).findings.map((f) => [f.kind, f.stops]),
    [['older-session-chosen', false]],
  );
});

test('no record (a new machine): restored, with a note that it cannot check', async () => {
  await damageWork();
  const r = await lab.restore(['work'], { env: { WYNG_QUBES_STATE_DIR: join(lab.sim.dir, 'fresh-state') } });
  assert.equal(r.code, 0, r.stderr);
  const rb = rollbackOf(r);
  assert.equal(rb.checked, false);
  assert.match(rb.note ?? '', /cannot check/);
});

test('a different metadata volume in the newest session: vault refused; --allow-rollback restores', async () => {
  const tgz = makeTgz([{ name: 'qubes.xml', data: lab.sim.qubesd.dumpQubesXml() }]);
  await replaceSessionVolume(lab.sim.archiveUrl, 'wyng-qubes-metadata', S3, tgz);
  await lab.client().setProperty('vault', 'memory', 1234);
  const m = lab.mark();
  const r = await lab.restore(['vault']);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(
    rollbackOf(r).findings.map((f) => [f.qube, f.kind, f.stops]),
    [['vault', 'metadata-differs', true]],
  );
  assert.match(r.json!.errors[0]?.message ?? '', /differs from what dom0 sent/);
  assert.deepEqual(
    writes(lab.callsSince(m)).filter((w) => w.endsWith(' vault')),
    [],
  );
  const allowed = await lab.restore(['--allow-rollback', 'vault']);
  assert.equal(allowed.code, 0, allowed.stderr);
});
