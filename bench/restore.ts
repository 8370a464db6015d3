/**
 * Restore of 200 qubes' settings through the built bundle against the simulator, after their
 * settings were damaged: wall time, Admin API calls (per qube) and writes; then an unchanged
 * rerun (writes must be 0; it is also the unchanged restore check `restoreCheck200`); then a
 * one-qube restore, next to wyng-util-qubes' calls read from the recording
 * (test/data/qubesd/wyng-util-qubes-restore-calls.json). `oursMs`/`wyngMs` come from the
 * restore result's `timing` and are null while the result has none.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../src/adapters/qubesd/index.ts';
import { buildSandbox, type Sandbox } from '../test/helpers/sim.ts';
import { generateQubesXml } from './gen-qubes-xml.ts';
import { emit } from './sim-bench.ts';
import { readWuqCalls } from './targets.ts';

const N = 200;
const scratch = mkdtempSync(join(tmpdir(), 'wq-bench-restore-'));
const xmlPath = join(scratch, 'qubes.xml');
writeFileSync(xmlPath, generateQubesXml(N + 5));
const sim: Sandbox = await buildSandbox({ qubesd: { qubesXml: xmlPath, volumeFileSize: 4096 } });

interface Run {
  ms: number;
  calls: number;
  writes: number;
  qubes: number;
  names: string[];
  /** the result's own split of the time, when it has one (null until then) */
  oursMs: number | null;
  wyngMs: number | null;
  cpuMs: number | null;
  /** ours by phase: plan / apply / verify (ms), when the result has them */
  split: string;
  /** time the (fake) qubesd spent answering this run's calls */
  qubesdMs: number;
  /** the calls by Admin API method, most frequent first ("method ×count, …") */
  byMethod: string;
}

type TimingKey = 'oursMs' | 'wyngMs' | 'planMs' | 'applyMs' | 'verifyMs' | 'cpuMs';
function timing(result: unknown, key: TimingKey): number | null {
  const t = (result as { timing?: Record<string, unknown> } | null)?.timing?.[key];
  return typeof t === 'number' && Number.isFinite(t) ? Math.round(t) : null;
}

function countByMethod(methods: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const m of methods) counts.set(m, (counts.get(m) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([m, n]) => `${m} ×${n}`)
    .join(', ');
}

async function restore(args: string[]): Promise<Run> {
  const before = sim.qubesd.callLog.length;
  const t0 = performance.now();
  // the bench archive is unencrypted: approve every reach class (issue 14) to restore everything
  const r = await sim.run([
    'restore',
    '--dest',
    sim.archiveUrl,
    '-u',
    '--allow-reach=all',
    '--no-qubes-post',
    '--json',
    ...args,
  ]);
  const ms = performance.now() - t0;
  if (r.code !== 0 || !r.json) throw new Error(`restore failed: ${r.stderr}`);
  const log = sim.qubesd.callLog.slice(before);
  return {
    ms,
    calls: log.length,
    writes: log.filter((c) => c.writes).length,
    qubes: (r.json.result as { qubes: unknown[] }).qubes.length,
    names: (r.json.result as { qubes: Array<{ name: string }> }).qubes.map((q) => q.name),
    oursMs: timing(r.json.result, 'oursMs'),
    wyngMs: timing(r.json.result, 'wyngMs'),
    cpuMs: timing(r.json.result, 'cpuMs'),
    qubesdMs: Math.round(log.reduce((sum, c) => sum + c.durationMs, 0)),
    byMethod: countByMethod(log.map((c) => c.method)),
    split: (['planMs', 'applyMs', 'verifyMs', 'cpuMs'] as const)
      .map((k) => `${k.slice(0, -2)} ${timing(r.json!.result, k) ?? 'n/a'}`)
      .join(', '),
  };
}

try {
  if ((await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u'])).code !== 0)
    throw new Error('create failed');
  const b = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', '-i', '--json']);
  if (b.code !== 0 || !b.json) throw new Error(`backup failed: ${b.stderr}`);
  const session = (b.json.result as { session: string }).session;
  const client = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 10000 }));
  const names = (await client.listQubes()).filter((q) => q.klass === 'AppVM').map((q) => q.name);
  for (const q of names) await client.setProperty(q, 'memory', 1234); // one real change per app qube
  const full = await restore(['--session', session]);
  const rerun = await restore(['--session', session]);
  const one = names[names.length - 1]!;
  await client.setProperty(one, 'memory', 1234);
  const single = await restore(['--session', session, one]);
  const wuq = readWuqCalls();
  const changed = names.filter((q) => full.names.includes(q)).length; // restored qubes with a change
  emit(
    [
      `restore of ${full.qubes} qubes (settings changed on ${changed}): ${full.ms.toFixed(0)} ms ` +
        `incl. the (fake) Wyng receive, ${full.calls} Admin API calls ` +
        `(${(full.calls / full.qubes).toFixed(2)} per qube), ${full.writes} writes; ` +
        `ours ${full.oursMs ?? 'n/a'} ms (${full.split}), fake Wyng ${full.wyngMs ?? 'n/a'} ms, ` +
        `fake qubesd answering ${full.qubesdMs} ms (ours without it: ${
          full.oursMs === null ? 'n/a' : full.oursMs - full.qubesdMs
        } ms)`,
      `  its calls: ${full.byMethod}`,
      `unchanged rerun: ${rerun.ms.toFixed(0)} ms, ${rerun.calls} calls, ${rerun.writes} writes; ` +
        `ours ${rerun.oursMs ?? 'n/a'} ms (${rerun.split}), fake Wyng ${rerun.wyngMs ?? 'n/a'} ms, ` +
        `fake qubesd answering ${rerun.qubesdMs} ms`,
      `  its calls: ${rerun.byMethod}`,
      `one-qube restore: ${single.calls} calls, ${single.writes} writes ` +
        `(wyng-util-qubes, recorded: ${wuq.min}–${wuq.max} calls)`,
    ].join('\n'),
    {
      restore200: {
        ms: Math.round(full.ms),
        calls: full.calls,
        callsPerQube: Number((full.calls / full.qubes).toFixed(2)),
        writes: full.writes,
        changed,
        oursMs: full.oursMs,
        wyngMs: full.wyngMs,
        // the (fake) qubesd's own time answering (incl. its qubes.xml rewrite after each write)
        qubesdMs: full.qubesdMs,
        cpuMs: full.cpuMs,
        // reads beyond the unchanged check's (the per-run reads every restore makes), per changed qube
        readsPerChanged: Number(((full.calls - full.writes - rerun.calls) / Math.max(1, changed)).toFixed(2)),
      },
      restoreCheck200: { oursMs: rerun.oursMs, calls: rerun.calls },
      rerunWrites: rerun.writes,
      restore1: { calls: single.calls, writes: single.writes },
    },
  );
} finally {
  await sim.stop();
  rmSync(scratch, { recursive: true, force: true });
}
