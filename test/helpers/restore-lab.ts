// A backed-up simulator for the restore end-to-end tests: the lab scenario (fake qubesd seeded
// from a real qubes.xml, fake Wyng) made realistic before the backup — recognisable bytes in
// every backed-up volume, firewall rules (set through the Admin API AND written to
// firewall.xml, as qubesd does), notes.txt files, extra properties, features, tags and a
// device assignment with options — then backed up in one session. Tests damage it, run
// `restore` in-process (the real program, against src/) and compare the live state with what
// was backed up, setting by setting and byte by byte.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import type { QubeClass, QubeSettings } from '../../src/core/qubes/model.ts';
import { parseFirewallXml } from '../../src/core/qubesxml/firewall-xml.ts';
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import type { CliRun } from './cli.ts';
import { comparable } from './settings.ts';
import { pattern, type JsonEnvelope, type Sandbox, type WyngCall } from './sim.ts';

/** Every non-disposable qube of the lab scenario (what `restore --session S` selects). */
export const LAB_QUBES = [
  'fedora-41',
  'fedora-41-dvm',
  'personal',
  'sys-firewall',
  'sys-net',
  'untrusted-standalone',
  'vault',
  'work',
  'work-clone',
];

export interface RestoreLab {
  sim: Sandbox;
  /** a client whose read cache is emptied before each use (the CLI changes qubesd behind it) */
  client(): AdminClient;
  session: string;
  /** the backed-up qubes (what the session holds) */
  qubes: string[];
  /** live settings at backup time, firewall included */
  archived: Map<string, QubeSettings>;
  /** notes.txt at backup time */
  notes: Map<string, string>;
  /** `qube/volume` → bytes at backup time */
  data: Map<string, Buffer>;
  /** runs `wyng-qubes restore --dest <archive> -u --no-qubes-post --json --allow-reach=all ARGS` in-process */
  restore(args: string[], opts?: RunOpts): Promise<LabRun>;
  /** runs any wyng-qubes command in-process with the simulator's environment */
  cli(args: string[], opts?: RunOpts): Promise<LabRun>;
  /** Admin API calls since the mark */
  callsSince(mark: number): CallLogEntry[];
  mark(): number;
  stop(): Promise<void>;
}

export interface RunOpts {
  env?: Record<string, string>;
  /** attended run: stdin is a terminal and every confirmation gets this answer */
  confirm?: boolean;
}

export interface LabRun extends CliRun {
  json?: JsonEnvelope;
}

export interface LabOptions {
  /** extra setup before the backup (e.g. more qubes); returns extra qube names to back up */
  prepare?: (sim: Sandbox, client: AdminClient) => Promise<string[]>;
}

/** The directory of a qube below the Qubes dir (qubesd's layout). */
export function qubeDir(sim: Sandbox, name: string, klass: QubeClass): string {
  return join(sim.qubesDir, klass === 'TemplateVM' ? 'vm-templates' : 'appvms', name);
}

/** firewall.xml (version 2, as qubesd writes it) for rules in the Admin API text form. */
export function firewallXml(rules: readonly string[]): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const ruleXml = rules.map((line) => {
    const ci = line.indexOf(' comment=');
    const opts = (ci < 0 ? line : line.slice(0, ci)).split(' ').map((o) => {
      const eq = o.indexOf('=');
      const key = o.slice(0, eq);
      return [key === 'dst4' || key === 'dst6' ? 'dsthost' : key, o.slice(eq + 1)] as const;
    });
    if (ci >= 0) opts.push(['comment', line.slice(ci + ' comment='.length)]);
    const props = opts.map(([k, v]) => `        <property name="${k}">${esc(v)}</property>`).join('\n');
    return `    <rule>\n      <properties>\n${props}\n      </properties>\n    </rule>`;
  });
  return (
    `<?xml version='1.0' encoding='UTF-8'?>\n<firewall version="2">\n  ` +
    `<rules>\n${ruleXml.join('\n')}\n  </rules>\n</firewall>\n`
  );
}

/** Sets a qube's firewall through the Admin API and writes its firewall.xml like qubesd. */
export async function setFirewallLikeQubesd(
  sim: Sandbox,
  client: AdminClient,
  name: string,
  klass: QubeClass,
  rules: string[],
): Promise<string[]> {
  await client.setFirewall(name, rules);
  client.clearCache();
  const stored = await client.getFirewall(name);
  const dir = qubeDir(sim, name, klass);
  mkdirSync(dir, { recursive: true });
  const xml = firewallXml(stored);
  assert.deepEqual(parseFirewallXml(xml), stored, `firewall.xml written for ${name} reads back as the live rules`);
  writeFileSync(join(dir, 'firewall.xml'), xml);
  return stored;
}

/** Removes a qube as qubesd does: the qube, then its directory (notes, firewall.xml). */
export async function removeQubeLikeQubesd(sim: Sandbox, client: AdminClient, name: string): Promise<void> {
  const klass = (await client.listQubes()).find((q) => q.name === name)?.klass;
  await client.removeQube(name);
  if (klass) rmSync(qubeDir(sim, name, klass), { recursive: true, force: true });
}

export { comparable };

export { pattern };

/**
 * Makes a fresh sandbox (buildSandbox(), lab scenario, no archive) the backed-up lab described
 * above. The sandbox is stopped when this fails (no server may keep the test process alive).
 */
export async function restoreLab(sim: Sandbox, opts: LabOptions = {}): Promise<RestoreLab> {
  const shared = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 10_000 }));
  const client = (): AdminClient => {
    shared.clearCache();
    return shared;
  };
  const cli = (args: string[], runOpts: RunOpts = {}): Promise<LabRun> =>
    sim.cli(args, {
      ...(runOpts.env !== undefined ? { env: runOpts.env } : {}),
      ...(runOpts.confirm !== undefined ? { confirm: runOpts.confirm } : {}),
    });
  try {
    return await setUp(sim, client, cli, opts.prepare);
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

async function setUp(
  sim: Sandbox,
  client: () => AdminClient,
  cli: (args: string[], runOpts?: RunOpts) => Promise<LabRun>,
  prepare: LabOptions['prepare'],
): Promise<RestoreLab> {
  const c = client();
  const created = await cli(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u']);
  assert.equal(created.code, 0, created.stderr);

  // make the scenario realistic: settings in every part, recognisable bytes, files
  await c.setProperty('work', 'vcpus', 3);
  await c.setProperty('work', 'kernelopts', 'nopat');
  await c.setFeature('work', 'gui-allow-fullscreen', '1');
  await c.setTag('vault', 'offline');
  await c.setProperty('work', 'virt_mode', 'hvm'); // PCI devices need HVM
  await c.assignDevice('work', {
    devclass: 'pci',
    backend: 'dom0',
    port: '00_05.0',
    deviceId: '0x1af4:0x1044::pffff00',
    mode: 'required',
    options: { permissive: 'True' },
  });
  await setFirewallLikeQubesd(sim, c, 'work', 'AppVM', [
    'action=accept proto=tcp dsthost=www.qubes-os.org dstports=443-443',
    'action=accept dst4=10.0.0.0/8 proto=udp dstports=53-53',
    'action=accept specialtarget=dns',
    'action=drop proto=icmp icmptype=8 comment=no ping',
    'action=drop',
  ]);
  await setFirewallLikeQubesd(sim, c, 'personal', 'AppVM', ['action=accept dsthost=example.org', 'action=drop']);
  const notes = new Map<string, string>([
    ['work', 'Work qube.\nProject X; do not share.\n'],
    ['vault', 'offline secrets — ünïcode ✓\n'],
    ['fedora-41', 'base template\n'],
  ]);
  const live = await c.listQubes();
  const klassOf = (n: string): QubeClass => live.find((q) => q.name === n)!.klass;
  for (const [name, text] of notes) {
    const dir = qubeDir(sim, name, klassOf(name));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'notes.txt'), text);
  }
  const extra = prepare ? await prepare(sim, client()) : [];
  const qubes = [...LAB_QUBES, ...extra];
  const data = new Map<string, Buffer>();
  for (const q of (await client().listQubes()).filter((x) => qubes.includes(x.name))) {
    for (const vol of q.klass === 'TemplateVM' || q.klass === 'StandaloneVM' ? ['private', 'root'] : ['private']) {
      const path = sim.qubesd.volumePath(q.name, vol);
      assert.ok(path, `${q.name} has a ${vol} volume`);
      const buf = pattern(`${q.name}/${vol}`);
      writeFileSync(path, buf);
      data.set(`${q.name}/${vol}`, buf);
    }
  }
  const archived = await client().readQubeSettings(qubes, { firewall: true });
  const backup = await cli(['backup', '--dest', sim.archiveUrl, '-u', '--json', ...qubes]);
  assert.equal(backup.code, 0, `${backup.stderr}\n${backup.stdout}`);
  const session = (backup.json!.result as { session: string }).session;

  const lab: RestoreLab = {
    sim,
    client,
    session,
    qubes,
    archived,
    notes,
    data,
    cli,
    // The lab archive is unencrypted (not authenticated): these restores approve every reach class
    // (issue 14), so they restore everything as before; test/e2e/restore-reach.test.ts tests the approvals.
    restore: (args, runOpts) =>
      cli(
        ['restore', '--dest', sim.archiveUrl, '-u', '--no-qubes-post', '--json', '--allow-reach=all', ...args],
        runOpts,
      ),
    callsSince: (m) => sim.qubesd.callLog.slice(m),
    mark: () => sim.qubesd.callLog.length,
    stop: () => sim.stop(),
  };
  return lab;
}

/** Admin API writes among these calls, as `method+arg dest` (for messages). */
/** The sandbox's Wyng processes since `from`: list runs, metadata receives (--save-to), data receives. */
export function wyngSince(
  sim: Sandbox,
  from: number,
): { list: number; metadata: number; data: number; all: WyngCall[] } {
  const all = sim.wyngCalls().slice(from);
  const receives = all.filter((c) => c.argv.includes('receive'));
  const metadata = receives.filter((c) => c.argv.some((a) => a.startsWith('--save-to'))).length;
  return {
    list: all.filter((c) => c.argv.includes('list')).length,
    metadata,
    data: receives.length - metadata,
    all,
  };
}

export function writes(calls: readonly CallLogEntry[]): string[] {
  return calls.filter((c) => c.writes).map((c) => `${c.method}${c.arg ? `+${c.arg}` : ''} ${c.dest}`);
}

/** Asserts that the live qube equals its backed-up state: every setting, notes, volume bytes. */
export async function assertRestored(lab: RestoreLab, names: readonly string[]): Promise<void> {
  const now = await lab.client().readQubeSettings(names, { firewall: true });
  const live = await lab.client().listQubes();
  for (const name of names) {
    const want = lab.archived.get(name);
    assert.ok(want, `${name} was backed up`);
    assert.ok(now.has(name), `${name} exists after the restore`);
    assert.deepEqual(comparable(now.get(name)), comparable(want), `settings of ${name}`);
    const klass = live.find((q) => q.name === name)!.klass;
    const notesPath = join(qubeDir(lab.sim, name, klass), 'notes.txt');
    const wantNotes = lab.notes.get(name);
    if (wantNotes !== undefined) assert.equal(readFileSync(notesPath, 'utf8'), wantNotes, `notes.txt of ${name}`);
    for (const vol of ['private', 'root']) {
      const bytes = lab.data.get(`${name}/${vol}`);
      if (bytes === undefined) continue;
      const path = lab.sim.qubesd.volumePath(name, vol);
      assert.ok(path, `${name} has a ${vol} volume`);
      assert.equal(Buffer.compare(readFileSync(path), bytes), 0, `bytes of ${name}/${vol}`);
    }
  }
}

/** Every file below a directory with a hash of its content (to prove nothing was written there). */
export function treeSnapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = lstatSync(join(dir, r), { throwIfNoEntry: false });
      if (st === undefined) continue;
      out.set(
        r,
        st.isDirectory()
          ? 'dir'
          : st.isFile()
            ? createHash('sha256')
                .update(readFileSync(join(dir, r)))
                .digest('hex')
            : `mode ${st.mode}`,
      );
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
