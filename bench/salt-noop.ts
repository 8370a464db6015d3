/**
 * One plan per Salt run (issue 17 goal 5): a no-op `state.apply` of nine `wyng_qubes.restored`
 * states under the real Salt (.venv-salt, made by scripts/salt-venv.sh) against the simulator,
 * next to one `restore --dry-run` of the same nine qubes. Figures: `ms` = the time Salt
 * reports for the nine states (sum of their `duration`; Salt's own start-up is printed apart),
 * `dryRunMs` = wall time of the dry run, `wyngProcesses` = the fake Wyng's invocations during
 * the apply (WYNG_FAKE_LOG). Targets: ms ≤ 2 × dryRunMs, ≤ 3 Wyng processes. Without the Salt
 * venv the figures are null and the reason is printed.
 * With `--json` the last line is `{"saltNoop9": {ms, dryRunMs, wyngProcesses}}`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, ROOT } from '../test/helpers/cli.ts';
import { buildSandbox } from '../test/helpers/sim.ts';
import { emit, median } from './sim-bench.ts';

const NINE = [
  'fedora-41',
  'fedora-41-dvm',
  'sys-net',
  'sys-firewall',
  'untrusted-standalone',
  'vault',
  'work',
  'work-clone',
  'personal',
];
const SALT_CALL = join(ROOT, '.venv-salt', 'bin', 'salt-call');
const runs = Number(process.env.BENCH_RUNS ?? 3);

if (!existsSync(SALT_CALL)) {
  emit(`Salt no-op apply of 9 restored states: not measured (no ${SALT_CALL}; run scripts/salt-venv.sh)`, {
    saltNoop9: { ms: null, dryRunMs: null, wyngProcesses: null },
  });
  process.exit(0);
}

const sim = await buildSandbox();
try {
  const dest = sim.archiveUrl;
  if ((await sim.run(['create', '--dest', dest, '-w', 'encrypt=off', '-u'])).code !== 0)
    throw new Error('create failed');
  const b = await sim.run(['backup', '--dest', dest, '-u', '--json', ...NINE]);
  if (b.code !== 0) throw new Error(`backup failed: ${b.stderr}`);

  // a salt-call --local minion below the simulator's temp dir (as salt/tests/saltcall.py does)
  const salt = join(sim.dir, 'salt');
  const files = join(salt, 'files');
  const pillar = join(salt, 'pillar');
  mkdirSync(files, { recursive: true });
  mkdirSync(pillar, { recursive: true });
  symlinkSync(join(ROOT, 'salt', '_modules'), join(files, '_modules'));
  symlinkSync(join(ROOT, 'salt', '_states'), join(files, '_states'));
  const states: Record<string, unknown> = {};
  for (const q of NINE)
    states[`restored-${q}`] = { 'wyng_qubes.restored': [{ name: q }, { dest }, { no_qubes_post: true }] };
  writeFileSync(join(files, 'nine.sls'), JSON.stringify(states));
  const wqEnv = Object.fromEntries(Object.entries(sim.env).filter(([k]) => k.startsWith('WYNG_QUBES_')));
  const minion = {
    id: 'dom0',
    root_dir: join(salt, 'root'),
    file_client: 'local',
    user: process.env.USER ?? 'root',
    file_roots: { base: [files] },
    pillar_roots: { base: [pillar] },
    wyng_qubes: { bin: BUNDLE, node: process.execPath, env: wqEnv },
    enable_fqdns_grains: false,
  };
  writeFileSync(join(salt, 'minion'), JSON.stringify(minion)); // JSON is YAML
  const wyngLog = sim.env['WYNG_FAKE_LOG'] as string;
  const processEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    TZ: 'UTC',
    WYNG_FAKE_LOCK: sim.env['WYNG_FAKE_LOCK'] as string,
    WYNG_FAKE_LOG: wyngLog,
  };
  // asynchronous: the fake qubesd answers from this process's event loop
  const saltCall = (...args: string[]): Promise<{ ms: number; out: unknown }> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(SALT_CALL, ['--local', '-c', salt, '--out=json', '--retcode-passthrough', ...args], {
        env: processEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        const ms = performance.now() - t0;
        if (code !== 0) reject(new Error(`salt-call ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
        else resolve({ ms, out: (JSON.parse(stdout) as { local: unknown }).local });
      });
    });
  await saltCall('saltutil.sync_all');
  const pings: number[] = [];
  for (let i = 0; i < 3; i++) pings.push((await saltCall('test.ping')).ms);
  const ping = median(pings);

  const applyMs: number[] = [];
  const stateMs: number[] = [];
  let wyngProcesses = 0;
  for (let i = 0; i < runs; i++) {
    rmSync(wyngLog, { force: true });
    const { ms, out } = await saltCall('state.apply', 'nine');
    const rets = Object.values(out as Record<string, { result: boolean; changes: object; duration: number }>);
    if (rets.length !== NINE.length || rets.some((r) => r.result !== true || Object.keys(r.changes).length > 0))
      throw new Error(`the apply was not a no-op: ${JSON.stringify(out)}`);
    applyMs.push(ms);
    stateMs.push(rets.reduce((sum, r) => sum + r.duration, 0));
    wyngProcesses = existsSync(wyngLog) ? readFileSync(wyngLog, 'utf8').trim().split('\n').length : 0;
  }
  const dryMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await sim.run(['restore', '--dest', dest, '-u', '--dry-run', '--json', ...NINE]);
    dryMs.push(performance.now() - t0);
    if (r.code !== 0) throw new Error(`dry run failed: ${r.stderr}`);
  }
  const ms = median(stateMs);
  const dryRunMs = median(dryMs);
  emit(
    `Salt no-op apply of 9 restored states: ${ms.toFixed(0)} ms in the states ` +
      `(salt-call wall ${median(applyMs).toFixed(0)} ms, ` +
      `a bare salt-call test.ping ${ping.toFixed(0)} ms), ${wyngProcesses} Wyng processes; ` +
      `restore --dry-run of the 9 qubes: ${dryRunMs.toFixed(0)} ms (${(ms / dryRunMs).toFixed(2)}×); ` +
      `targets ≤ 2×, ≤ 3 Wyng processes`,
    { saltNoop9: { ms: Math.round(ms), dryRunMs: Math.round(dryRunMs), wyngProcesses } },
  );
} finally {
  await sim.stop();
}
