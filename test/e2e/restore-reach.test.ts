// Reach end to end (issue 14 §1): a session whose metadata gives `personal` powers over other
// qubes — sys-net's PCI NIC, guivm=sys-net, tags policy matches, dom0-facing features,
// provides_network, debug, virt_mode — is crafted by backing up such a `personal` and then
// putting the live one back. Restoring it must never grant a reach setting nobody approved:
// on the dom0 CLI (unauthenticated archive: refused unattended without a flag, withheld with
// --trust-unauthenticated, applied per --allow-reach class), interactively (shown first),
// through the wyng.Restore service script as qrexec runs it (refused unless the profile trusts
// the archive, withheld unless the profile approves; a caller cannot approve), and from an
// encrypted, authenticated archive (dom0 runs apply everything; rpc still only by profile).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QubeSettings } from '../../src/core/qubes/model.ts';
import { FAKE_WYNG } from '../helpers/cli.ts';
import { onlyDocument, qrexecEnv, runService } from '../helpers/rpc.ts';
import { removeQubeLikeQubesd, restoreLab, writes, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

let lab: RestoreLab;
/** the session whose metadata holds the hostile `personal` */
let hostile: string;
let original: QubeSettings;

const NIC = {
  devclass: 'pci',
  backend: 'dom0',
  port: '00_03.0',
  deviceId: '0x1af4:0x1041::p020000',
  mode: 'required' as const,
  options: { permissive: 'True' },
};

/** Every reach setting of the hostile session, as the live `personal` must never get it unapproved. */
function reachGranted(s: QubeSettings): string[] {
  const out: string[] = [];
  if (s.properties.guivm === 'sys-net') out.push('guivm');
  if (s.properties.provides_network === 'True') out.push('provides_network');
  if (s.properties.debug === 'True') out.push('debug');
  if (s.properties.virt_mode === 'hvm') out.push('virt_mode');
  for (const t of ['admin', 'split-gpg-client']) if (s.tags.includes(t)) out.push(`tag ${t}`);
  for (const f of ['servicevm', 'gui-allow-fullscreen']) if (s.features[f] !== undefined) out.push(`feature ${f}`);
  if (s.devices.some((d) => d.devclass === 'pci' && d.port === NIC.port)) out.push('pci device');
  return out;
}

/** `restore -u --json` with exactly these approvals (lab.restore approves every class). */
function restore(args: string[]) {
  return lab.cli(['restore', '--dest', lab.sim.archiveUrl, '-u', '--no-qubes-post', '--json', ...args]);
}

async function personal(): Promise<QubeSettings> {
  return (await lab.client().readQubeSettings(['personal'], { firewall: true })).get('personal')!;
}

/** Puts the live `personal` back to its state before the hostile session (approving everything). */
async function putBack(): Promise<void> {
  const r = await restore(['--session', lab.session, '--allow-reach=all', 'personal']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(reachGranted(await personal()), []);
}

before(async () => {
  lab = await restoreLab(await buildSandbox());
  original = await personal();
  const c = lab.client();
  // own changes
  await c.setProperty('personal', 'label', 'red');
  await c.setProperty('personal', 'vcpus', 4);
  // reach changes
  await c.setProperty('personal', 'virt_mode', 'hvm');
  await c.setProperty('personal', 'guivm', 'sys-net');
  await c.setProperty('personal', 'provides_network', true);
  await c.setProperty('personal', 'debug', true);
  await c.setTag('personal', 'admin');
  await c.setTag('personal', 'split-gpg-client');
  await c.setFeature('personal', 'servicevm', '1');
  await c.setFeature('personal', 'gui-allow-fullscreen', '1');
  await c.assignDevice('personal', NIC);
  const b = await lab.cli(['backup', '--dest', lab.sim.archiveUrl, '-u', '--json', 'personal'], {
    env: { WYNG_FAKE_SESSION_BUMP: '1', WYNG_FAKE_NOW: String(Math.floor(Date.now() / 1000) + 600) },
  });
  assert.equal(b.code, 0, b.stderr);
  hostile = (b.json!.result as { session: string }).session;
  assert.notEqual(hostile, lab.session);
  await putBack();
  assert.equal(original.properties.label, (await personal()).properties.label);
});

after(async () => {
  await lab?.stop();
});

interface RestoreDoc {
  qubes: Array<{ name: string; status: string; withheld?: Array<{ reach: string; key: string }> }>;
  withheld: Record<string, Array<{ kind: string; key: string; reach: string; reason: string }>>;
}

test('CLI, unauthenticated archive, unattended without a flag: refused (exit 9), nothing written', async () => {
  const m = lab.mark();
  const r = await restore(['--session', hostile, 'personal']);
  assert.equal(r.code, 9, r.stderr);
  assert.equal(r.json!.errors[0]!.kind, 'forbidden');
  assert.match(r.stderr, /not authenticated/);
  assert.match(r.stderr, /--trust-unauthenticated/);
  assert.deepEqual(writes(lab.callsSince(m)), []);
});

test('CLI --dry-run --json lists reach changes apart from own changes, per qube, with why', async () => {
  const r = await restore(['--session', hostile, '--dry-run', 'personal']);
  assert.equal(r.code, 0, r.stderr);
  const plan = (
    r.json!.result as {
      plan: {
        qubes: Array<{
          name: string;
          changes: { properties: Array<{ name: string }>; tags: unknown[]; devices: unknown[] };
          reach: Array<{ key: string; reach: string; reason: string; applied: boolean }>;
          withheld: Array<{ key: string }>;
        }>;
      };
      reach: { authenticated: boolean; needed: string[] };
    }
  ).plan;
  const q = plan.qubes.find((x) => x.name === 'personal')!;
  // own changes stay in the plan, reach ones leave it
  assert.deepEqual(
    q.changes.properties.map((p) => p.name),
    ['vcpus'],
  );
  assert.deepEqual(q.changes.tags, []);
  assert.deepEqual(q.changes.devices, []);
  const keys = q.reach.map((c) => `${c.reach}:${c.key}`).sort();
  for (const want of [
    'class:debug',
    'class:virt_mode',
    'devices:assign|',
    'features:gui-allow-fullscreen',
    'features:servicevm',
    'gui:guivm',
    'network:provides_network',
    'tags:add|admin',
    'tags:add|split-gpg-client',
  ]) {
    assert.ok(
      keys.some((k) => k.startsWith(want)),
      `${want} in ${keys.join(', ')}`,
    );
  }
  for (const c of q.reach) {
    assert.equal(c.applied, false, c.key);
    assert.ok(c.reason.length > 10, `a reason for ${c.key}`);
  }
  assert.equal(q.withheld.length, q.reach.length);
  const text = await lab.cli([
    'restore',
    '--dest',
    lab.sim.archiveUrl,
    '-u',
    '--dry-run',
    '--session',
    hostile,
    'personal',
  ]);
  assert.match(text.stdout, /Reach changes \(they act beyond the qube itself; approved by: nothing\)/);
  assert.match(text.stdout, /WITHHELD \[gui\] property guivm: the qube it names draws/);
});

test('CLI --trust-unauthenticated: own changes restored, reach withheld, exit 2, rerun: no write', async () => {
  const r = await restore(['--session', hostile, '--trust-unauthenticated', 'personal']);
  assert.equal(r.code, 2, r.stderr);
  const now = await personal();
  assert.equal(now.properties.label, 'red', 'own change applied');
  assert.equal(now.properties.vcpus, '4', 'own change applied');
  assert.deepEqual(reachGranted(now), [], 'no reach setting granted');
  const doc = r.json!.result as RestoreDoc;
  const held = doc.withheld.personal!.map((c) => c.reach);
  for (const cls of ['devices', 'gui', 'tags', 'features', 'network', 'class']) assert.ok(held.includes(cls), cls);
  assert.equal(doc.qubes.find((q) => q.name === 'personal')!.withheld!.length, doc.withheld.personal!.length);
  const err = r.json!.errors.find((e) => e.qube === 'personal')!;
  assert.match(err.message, /reach change\(s\) withheld/);
  assert.match(err.message, /--allow-reach=devices,network,gui,tags,features,class/);
  assert.match(err.message, /restore: \{ allow_reach: \[devices, network, gui, tags, features, class\] \}/);
  assert.match(r.stderr, /Error for VMs: personal/);

  const m = lab.mark();
  const again = await restore(['--session', hostile, '--trust-unauthenticated', 'personal']);
  assert.equal(again.code, 2, again.stderr);
  assert.deepEqual(writes(lab.callsSince(m)), [], 'an unchanged rerun makes no write');
  await putBack();
});

test('CLI --allow-reach=tags,gui: those classes applied, the rest withheld', async () => {
  const r = await restore(['--session', hostile, '--allow-reach=tags', '--allow-reach=gui', 'personal']);
  assert.equal(r.code, 2, r.stderr);
  const granted = reachGranted(await personal());
  assert.deepEqual(granted.sort(), ['guivm', 'tag admin', 'tag split-gpg-client']);
  const held = (r.json!.result as RestoreDoc).withheld.personal!.map((c) => c.reach);
  assert.ok(!held.includes('tags') && !held.includes('gui'));
  await putBack();
});

test('CLI, a missing qube created from the hostile session: created without its reach settings', async () => {
  await removeQubeLikeQubesd(lab.sim, lab.client(), 'personal');
  const r = await restore(['--session', hostile, '--trust-unauthenticated', 'personal']);
  assert.equal(r.code, 2, r.stderr);
  const doc = r.json!.result as RestoreDoc;
  const q = doc.qubes.find((x) => x.name === 'personal')!;
  assert.equal(q.status, 'restored', 'created and verified (withheld changes are not a verification failure)');
  const now = await personal();
  assert.equal(now.properties.label, 'red');
  assert.deepEqual(reachGranted(now), [], 'the diff re-read after creating it is filtered too');
  assert.ok(doc.withheld.personal!.some((c) => c.reach === 'devices'));
  await putBack();
});

test('CLI --allow-reach=all from an unauthenticated archive: everything applied, exit 0', async () => {
  const r = await restore(['--session', hostile, '--allow-reach=all', 'personal']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(reachGranted(await personal()).length, 9);
  await putBack();
});

test('CLI --allow-reach with an unknown class: exit 9 before anything runs', async () => {
  const r = await restore(['--session', hostile, '--allow-reach=devices,root', 'personal']);
  assert.equal(r.code, 9);
  assert.match(r.stderr, /Unknown reach class 'root'/);
});

test('CLI interactive: the reach changes are shown first at the confirmation; "no" writes nothing', async () => {
  const m = lab.mark();
  const r = await lab.cli(
    ['restore', '--dest', lab.sim.archiveUrl, '--no-qubes-post', '--session', hostile, 'personal'],
    {
      confirm: false,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: The archive is not authenticated/);
  const reachAt = r.stdout.indexOf('Reach changes');
  const overwriteAt = r.stdout.indexOf('Restoring to existing VMs will overwrite');
  assert.ok(reachAt > 0 && overwriteAt > reachAt, r.stdout);
  assert.match(r.stdout.slice(reachAt, overwriteAt), /WITHHELD \[devices\] device assign/);
  assert.deepEqual(writes(lab.callsSince(m)), []);
});

// ------------------------------------------------------------------------------------------
// wyng.Restore as qrexec runs it (service script → bundle)

function rpcEnv(profileYaml: string): Record<string, string | undefined> {
  const etc = lab.sim.env.WYNG_QUBES_CONFIG_DIR!;
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'profiles.yaml'), profileYaml, { mode: 0o600 });
  const wyng = join(lab.sim.dir, 'wyng-exec');
  writeFileSync(wyng, `#!/bin/sh\nexec "${process.execPath}" "${FAKE_WYNG}" "$@"\n`, { mode: 0o755 });
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: 'UTC',
    ...lab.sim.env,
    WYNG_QUBES_WYNG: wyng,
    WYNG_QUBES_RPC_SUDO: '0',
  };
}

function profile(extra: string, dest = lab.sim.archiveUrl, more = ''): string {
  return `profiles:
  mgmt-restore:
    dest: ${dest}${more}
    remote:
      operations: [Restore]
      restore_qubes: [personal]
      callers: [mgmt]
${extra}`;
}

async function rpcRestore(env: Record<string, string | undefined>, body: object) {
  lab.sim.syncQubesXml();
  return runService(
    'wyng.Restore',
    { ...env, ...qrexecEnv('wyng.Restore', 'mgmt-restore', 'mgmt') },
    JSON.stringify(body),
  );
}

test('rpc, unauthenticated archive: refused as a whole unless the profile trusts it', async () => {
  const m = lab.mark();
  const r = await rpcRestore(rpcEnv(profile('')), { qubes: ['personal'], session: hostile });
  assert.equal(r.code, 9, r.stderr);
  const doc = onlyDocument(r.stdout);
  assert.equal(doc.errors[0]!.kind, 'forbidden');
  assert.deepEqual(writes(lab.callsSince(m)), []);
  assert.deepEqual(reachGranted(await personal()), []);
});

test('rpc, trusted unauthenticated archive, no approval: reach withheld and reported, exit 2', async () => {
  const env = rpcEnv(profile('    restore:\n      trust_unauthenticated: true\n'));
  const r = await rpcRestore(env, { qubes: ['personal'], session: hostile });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(reachGranted(await personal()), [], 'the issue-14 attack grants nothing');
  assert.equal((await personal()).properties.label, 'red', 'own changes restored');
  const doc = onlyDocument(r.stdout);
  const res = doc.result as RestoreDoc;
  assert.ok(res.withheld.personal!.length >= 9, JSON.stringify(res.withheld));
  // the caller gets the generic per-qube error (redacted) and the withheld list; dom0's report
  // names the approval, the profile's only (a remote caller cannot approve)
  assert.match(
    doc.errors.find((e) => e.qube === 'personal')?.message ?? JSON.stringify(doc.errors),
    /'personal' failed/,
  );
  // the run report (what wyng.Status and `report` show) lists the withheld changes too
  const dir = join(lab.sim.env.WYNG_QUBES_STATE_DIR!, 'reports');
  const newest = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .filter((t) => t.includes('"rpc"') && t.includes(hostile))
    .pop();
  assert.ok(newest, 'a report of the rpc restore');
  const report = JSON.parse(newest) as { result: RestoreDoc; errors: Array<{ message: string }> };
  assert.ok(report.result.withheld.personal!.some((c) => c.reach === 'devices'));
  const named = report.errors.find((e) => /reach change\(s\) withheld/.test(e.message));
  assert.ok(named, JSON.stringify(report.errors));
  assert.match(named.message, /profile 'restore: \{ allow_reach: \[/);
  assert.doesNotMatch(named.message, /--allow-reach/);
  await putBack();
});

test('rpc: a caller cannot approve reach itself', async () => {
  const env = rpcEnv(profile('    restore:\n      trust_unauthenticated: true\n'));
  for (const body of [
    { qubes: ['personal'], session: hostile, allowReach: ['all'] },
    { qubes: ['personal'], session: hostile, allow_reach: ['all'] },
    { qubes: ['personal'], session: hostile, trustUnauthenticated: true },
  ]) {
    const m = lab.mark();
    const r = await rpcRestore(env, body);
    assert.equal(r.code, 9, `${JSON.stringify(body)}: ${r.stderr}`);
    assert.deepEqual(writes(lab.callsSince(m)), []);
  }
  assert.deepEqual(reachGranted(await personal()), []);
});

test('rpc, profile approves class and devices: those applied, the rest withheld', async () => {
  const env = rpcEnv(profile('    restore:\n      trust_unauthenticated: true\n      allow_reach: [class, devices]\n'));
  const r = await rpcRestore(env, { qubes: ['personal'], session: hostile });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(reachGranted(await personal()).sort(), ['debug', 'pci device', 'virt_mode']);
  await putBack();
});

// ------------------------------------------------------------------------------------------
// an encrypted, authenticated archive

test('authenticated archive: a dom0 CLI run applies reach; rpc still only what its profile approves', async () => {
  const passFile = join(lab.sim.dir, 'pass');
  writeFileSync(passFile, 'correct horse\n', { mode: 0o600 });
  const encUrl = `file:${join(lab.sim.dir, 'archive-enc')}`;
  const more = `\n    passphrase_file: ${passFile}`;
  const yaml = profile('    restore:\n      allow_reach: [tags]\n', encUrl, more);
  const env = rpcEnv(yaml);
  const run = (args: string[]) =>
    lab.cli([...args, '--profile', 'mgmt-restore'], { env: { WYNG_FAKE_SESSION_BUMP: '1' } });
  assert.equal((await run(['create', '-u', '--json'])).code, 0);
  // the hostile personal, backed up into the encrypted archive
  const r0 = await restore(['--session', hostile, '--allow-reach=all', 'personal']);
  assert.equal(r0.code, 0, r0.stderr);
  const b = await run(['backup', '-u', '--json', 'personal']);
  assert.equal(b.code, 0, b.stderr);
  const list = await run(['list', '-u', '--json']);
  assert.equal((list.json!.result as { archive: { authenticated: boolean } }).archive.authenticated, true);
  await putBack();

  // rpc: the profile approves tags only, although the archive is authenticated
  const r = await rpcRestore(env, { qubes: ['personal'] });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(reachGranted(await personal()).sort(), ['tag admin', 'tag split-gpg-client']);
  await putBack();

  // dom0 CLI: an authenticated archive run by dom0 needs no approval
  const cli = await run(['restore', '-u', '--no-qubes-post', '--json', 'personal']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(reachGranted(await personal()).length, 9);
  await putBack();
});
