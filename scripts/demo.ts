/**
 * `npm run demo`: the whole story of wyng-qubes on any Linux machine, against the simulator
 * (a fake qubesd seeded with a realistic qubes.xml — a template, sys-net with a PCI device,
 * sys-firewall, a disposable template and a named disposable, app qubes in two pools, a
 * standalone — and the fake Wyng, everything in a temp dir):
 *   back up → damage (remove qubes, change properties/features/tags/firewall, swap a template)
 *   → restore --dry-run → restore → check every setting and every volume byte
 *   → one qrexec-style call (the RPC entry point with a profile) → one Salt-style call.
 * Exits 0 only when everything matched. Every number it prints is measured in this run (read
 * from the simulator or from the tool's JSON), except wyng-util-qubes' call count, which is
 * labelled as recorded and read from its recording (test/data/qubesd/wyng-util-qubes-restore-calls.json).
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../src/adapters/qubesd/index.ts';
import { comparable } from '../test/helpers/settings.ts';
import { BUNDLE, ROOT } from '../test/helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../test/helpers/sim.ts';

const started = Date.now();
const problems: string[] = [];
const out = (s = ''): void => void process.stdout.write(`${s}\n`);
const step = (title: string): void => out(`\n━━ ${title}`);
const keepDir = process.argv.includes('--keep');

/** wyng-util-qubes 0.9's Admin API calls per restored qube, as recorded against the real qubesd. */
function recordedUtilCalls(): string {
  const file = join(ROOT, 'test', 'data', 'qubesd', 'wyng-util-qubes-restore-calls.json');
  if (!existsSync(file)) return 'wyng-util-qubes: no recorded figure (test/data/qubesd/ is missing)';
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { runs: Array<{ calls: unknown[] }> };
  const counts = doc.runs.map((r) => r.calls.length);
  const range =
    Math.min(...counts) === Math.max(...counts) ? `${counts[0]}` : `${Math.min(...counts)}–${Math.max(...counts)}`;
  return `wyng-util-qubes 0.9: ${range} calls per qube (recorded: ${counts.length} restores of one qube each)`;
}

async function cli(sim: Sandbox, args: string[], what: string): Promise<Record<string, unknown>> {
  const r = await sim.run([...args, '--json']);
  if (!r.json) throw new Error(`${what}: no JSON (exit ${r.code}): ${r.stderr.slice(-800)}`);
  if (r.code !== 0) problems.push(`${what} exited ${r.code}: ${r.json.errors.map((e) => e.message).join('; ')}`);
  return r.json.result as Record<string, unknown>;
}

const sim = await buildSandbox({ keep: keepDir });
try {
  const client = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 10_000 }));
  const qubes = (await client.listQubes()).filter((q) => q.klass !== 'AdminVM');
  out('wyng-qubes demo — simulator in ' + sim.dir);
  out(`qubes: ${qubes.map((q) => `${q.name} (${q.klass})`).join(', ')}`);

  // recognisable data in every volume that gets backed up
  const volumes = new Map<string, Buffer>();
  for (const q of qubes) {
    if (q.klass === 'DispVM') continue;
    for (const vol of q.klass === 'TemplateVM' || q.klass === 'StandaloneVM' ? ['private', 'root'] : ['private']) {
      const path = sim.qubesd.volumePath(q.name, vol);
      if (!path) continue;
      const buf = Buffer.alloc(256 * 1024);
      for (let i = 0; i < buf.length; i += 48) buf.write(`${q.name}/${vol}@${i};`, i);
      writeFileSync(path, buf);
      volumes.set(`${q.name}/${vol}`, buf);
    }
  }
  const names = qubes.filter((q) => q.klass !== 'DispVM').map((q) => q.name);
  const before = await client.readQubeSettings(
    qubes.map((q) => q.name),
    { firewall: true },
  );

  step('1. create an archive and back up every qube (one Wyng send)');
  await cli(sim, ['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u'], 'create');
  const backup = (await cli(sim, ['backup', '--dest', sim.archiveUrl, '-u', ...names], 'backup')) as {
    session: string;
    qubes: Array<{ name: string; status: string; volumes: string[] }>;
    seconds: number;
  };
  const session = backup.session;
  out(
    `session ${session}: ${backup.qubes.filter((q) => q.status === 'ok').length} qubes, ` +
      `${backup.qubes.reduce((n, q) => n + q.volumes.length, 0)} volumes + the settings ` +
      `(qubes.xml, firewall, notes) in ${backup.seconds.toFixed(1)} s`,
  );

  step('2. damage the system');
  // what the simulator holds now, so the damage is described with measured values
  const prop = (qube: string, name: string): string => String(before.get(qube)?.properties[name] ?? '(default)');
  const damage: Array<[string, () => Promise<void>]> = [
    ['remove qube personal', () => client.removeQube('personal')],
    ['remove qube vault', () => client.removeQube('vault')],
    [
      `work: memory ${prop('work', 'memory')} → 1234, label ${prop('work', 'label')} → green`,
      async () => {
        await client.setProperty('work', 'memory', 1234);
        await client.setProperty('work', 'label', 'green');
      },
    ],
    [
      'work: add feature and tag, replace firewall rules',
      async () => {
        await client.setFeature('work', 'stray', '1');
        await client.setTag('work', 'stray');
        await client.setFirewall('work', ['action=drop']);
      },
    ],
    [
      'sys-net: unassign its PCI network card',
      async () => {
        for (const a of await client.assignedDevices('sys-net', 'pci')) await client.unassignDevice('sys-net', a);
      },
    ],
    [
      `work-clone: swap its template ${prop('work-clone', 'template')} for a new template fedora-42`,
      async () => {
        await client.createQube({ klass: 'TemplateVM', name: 'fedora-42', label: 'black' });
        await client.setProperty('work-clone', 'template', 'fedora-42');
      },
    ],
    [
      'work: overwrite its private volume',
      async () => writeFileSync(sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 0x5a)),
    ],
  ];
  for (const [what, fn] of damage) {
    await fn();
    out(`  ✗ ${what}`);
  }

  step('3. restore --dry-run (the plan; nothing is touched)');
  const dry = await sim.run([
    'restore',
    '--dry-run',
    '--allow-reach=all',
    '--session',
    session,
    '--dest',
    sim.archiveUrl,
    '-u',
  ]);
  out(dry.stdout.trim() || dry.stderr.trim());

  step('4. restore');
  const callsBefore = sim.qubesd.callLog.length;
  const restore = (await cli(
    sim,
    ['restore', '--session', session, '--dest', sim.archiveUrl, '-u', '--allow-reach=all', '--no-qubes-post'],
    'restore',
  )) as {
    qubes: Array<{ name: string; status: string; changes: number; error?: string }>;
    adminApi: { calls: number; reads: number; writes: number };
    seconds: number;
  };
  for (const q of restore.qubes)
    out(
      `  ${q.status === 'restored' ? '✓' : '✗'} ${q.name}: ${q.status}, ${q.changes} change(s)` +
        `${q.error ? ` — ${q.error}` : ''}`,
    );
  const calls = sim.qubesd.callLog.slice(callsBefore);
  out(
    `  ${restore.adminApi.calls} Admin API calls (${restore.adminApi.reads} reads, ` +
      `${restore.adminApi.writes} writes) for ${restore.qubes.length} qubes in ${restore.seconds.toFixed(1)} s`,
  );
  out(`  (${recordedUtilCalls()})`);
  if (calls.length !== restore.adminApi.calls)
    problems.push(`call count mismatch: fake saw ${calls.length}, tool reported ${restore.adminApi.calls}`);

  step('5. check: every setting and every volume byte');
  const after = await client.readQubeSettings(
    qubes.map((q) => q.name),
    { firewall: true },
  );
  let settingsOk = 0;
  for (const q of qubes) {
    if (q.klass === 'DispVM') continue; // named disposables are restored only with --include-disposable=on
    if (JSON.stringify(comparable(after.get(q.name))) === JSON.stringify(comparable(before.get(q.name))))
      settingsOk += 1;
    else problems.push(`settings of ${q.name} differ after the restore`);
  }
  let bytesOk = 0;
  for (const [key, buf] of volumes) {
    const [q, vol] = key.split('/') as [string, string];
    const path = sim.qubesd.volumePath(q, vol);
    if (path && Buffer.compare(readFileSync(path), buf) === 0) bytesOk += 1;
    else problems.push(`volume ${key} differs after the restore`);
  }
  out(`  settings identical: ${settingsOk}/${names.length} qubes; volumes byte-identical: ${bytesOk}/${volumes.size}`);
  const rerunBefore = sim.qubesd.callLog.length;
  await cli(
    sim,
    ['restore', '--session', session, '--dest', sim.archiveUrl, '-u', '--allow-reach=all', '--no-qubes-post'],
    'second restore',
  );
  const rerunWrites = sim.qubesd.callLog.slice(rerunBefore).filter((c) => c.writes).length;
  out(`  restoring again: ${rerunWrites} Admin API writes (nothing left to change)`);
  if (rerunWrites !== 0) problems.push(`an unchanged rerun made ${rerunWrites} writes`);

  step('6. a qrexec call: wyng.List+demo from a management qube (policy-gated in dom0)');
  mkdirSync(sim.env.WYNG_QUBES_CONFIG_DIR!, { recursive: true });
  writeFileSync(
    join(sim.env.WYNG_QUBES_CONFIG_DIR!, 'profiles.yaml'),
    `profiles:\n  demo:\n    dest: ${sim.archiveUrl}\n    qubes: [${names.join(', ')}]\n    remote:\n` +
      '      operations: [List, Restore]\n      restore_qubes: [work]\n      callers: [mgmt]\n',
    { mode: 0o600 },
  );
  const rpc = await sim.run(['rpc', 'wyng.List'], {
    stdin: '{"qubes":["work"]}',
    env: {
      QREXEC_SERVICE_FULL_NAME: 'wyng.List+demo',
      QREXEC_SERVICE_ARGUMENT: 'demo',
      QREXEC_REMOTE_DOMAIN: 'mgmt',
      WYNG_QUBES_RPC_SUDO: '0',
    },
  });
  const rpcDoc = JSON.parse(rpc.stdout) as { ok: boolean; result: { qubes?: Record<string, { newest: string }> } };
  out(`  exit ${rpc.code}; ok=${rpcDoc.ok}; work's newest session: ${rpcDoc.result.qubes?.work?.newest ?? '(none)'}`);
  if (!rpcDoc.ok || rpcDoc.result.qubes?.work?.newest !== session)
    problems.push('the qrexec-style List did not report the session');
  const refused = await sim.run(['rpc', 'wyng.Restore'], {
    stdin: '{"qubes":["vault"]}',
    env: {
      QREXEC_SERVICE_FULL_NAME: 'wyng.Restore+demo',
      QREXEC_SERVICE_ARGUMENT: 'demo',
      QREXEC_REMOTE_DOMAIN: 'mgmt',
      WYNG_QUBES_RPC_SUDO: '0',
    },
  });
  const refusedDoc = JSON.parse(refused.stdout) as { ok: boolean; errors: Array<{ message: string }> };
  out(
    `  wyng.Restore of 'vault' (not allowed by the profile): exit ${refused.code}, ` +
      `${refusedDoc.errors[0]?.message ?? ''}`,
  );
  if (refusedDoc.ok) problems.push('the profile did not refuse a restore of vault');

  step('7. a Salt call: wyng_qubes.plan (what `qubesctl` highstate uses)');
  // asynchronous: the fake qubesd lives in this process and must keep answering
  const salt = await execa(
    'python3',
    [join(ROOT, 'scripts', 'demo-salt.py'), BUNDLE, 'plan', `dest=${sim.archiveUrl}`, `session=${session}`],
    {
      env: { ...sim.env, DEMO_NODE: process.execPath },
      reject: false,
    },
  );
  if (salt.exitCode === 0) {
    const doc = JSON.parse(salt.stdout) as {
      ok: boolean;
      result?: { plan?: { qubes: Array<{ name: string; changeCount: number }> } };
    };
    const plan = doc.result?.plan;
    const pending = plan?.qubes.filter((q) => q.changeCount > 0).length ?? -1;
    out(
      `  ok=${doc.ok}; plan of session ${session}: ${plan?.qubes.length ?? 0} qubes, ${pending} with pending changes`,
    );
    if (pending !== 0) problems.push('the Salt plan shows pending changes after the restore');
  } else {
    problems.push(`the Salt-style call failed: ${salt.stderr.slice(-400)}`);
  }

  step('report');
  out(
    `  backed up ${names.length} qubes in session ${session}; damaged ${damage.length} things; ` +
      `restored ${restore.qubes.filter((q) => q.status === 'restored').length} qubes ` +
      `with ${restore.adminApi.writes} writes`,
  );
  out(`  total time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (problems.length === 0) out('\nRESULT: everything matched.');
  else {
    out('\nRESULT: MISMATCH');
    for (const p of problems) out(`  - ${p}`);
    process.exitCode = 1;
  }
} catch (err) {
  out(`\ndemo failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await sim.stop();
}
