// Issue 16 §11: the restore preview shows the firewall rules that change (in qvm-firewall's words), names
// the target pool, and a --pool that does not exist fails the dry run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSandbox } from '../helpers/sim.ts';
import { restoreLab, type LabRun, type RestoreLab } from '../helpers/restore-lab.ts';

let lab: RestoreLab;

before(async () => {
  lab = await restoreLab(await buildSandbox());
});

after(async () => {
  await lab?.stop();
});

const dry = (extra: string[]): Promise<LabRun> =>
  lab.cli([
    'restore',
    '--allow-reach=all',
    '--dest',
    lab.sim.archiveUrl,
    '-u',
    '--dry-run',
    '--session',
    lab.session,
    ...extra,
    'work',
  ]);

test('firewall changes are shown rule by rule in qvm-firewall words', async () => {
  const archived = lab.archived.get('work')!.firewall ?? [];
  await lab.client().setFirewall('work', ['action=accept proto=tcp dstports=22-22', 'action=drop']);
  const r = await dry([]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n {8}- 0 action=accept proto=tcp dstports=22-22\n/);
  const firstArchived = archived.length > 0 ? archived[0]! : 'action=accept';
  if (firstArchived !== 'action=drop') assert.ok(r.stdout.includes(`+ 0 ${firstArchived}`), r.stdout);
});

test('the plan names the target pool; --pool nosuchpool fails the dry run (exit 9)', async () => {
  const def = await dry([]);
  assert.match(def.stdout, /Target pool for created qubes: the system's default_pool\./);
  const ok = await lab.cli(['list', '--dest', lab.sim.archiveUrl, '-u', '--pool-info', '--json']);
  const pool = (ok.json!.result as { pools: Array<{ name: string }> }).pools[0]!.name;
  const named = await dry(['--pool', pool, '--json']);
  assert.equal(named.code, 0, named.stderr);
  assert.equal((named.json!.result as { pool: string }).pool, pool);
  assert.match(named.stderr, new RegExp(`Target pool for created qubes: ${pool}\\.`));
  const bad = await dry(['--pool', 'nosuchpool', '--json']);
  assert.equal(bad.code, 9, bad.stderr);
  assert.match(bad.json!.errors[0]!.message, /No storage pool 'nosuchpool'/);
});
