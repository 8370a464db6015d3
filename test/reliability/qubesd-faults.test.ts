// qubesd faults across a whole restore: the N-th Admin API call fails (a `2\0QubesException`
// reply), its connection drops without a reply, or its reply never comes (bounded by
// WYNG_QUBES_QUBESD_TIMEOUT_MS). N covers the first call, the last call and the first call of
// every distinct method of a reference restore (which repairs every kind of damage: a removed
// qube, changed properties and firewall rules, a stray tag and feature, a running qube, zeroed
// data). For each case:
//   - the fault is reported (exit 1 before anything was written, else exit 2 naming qubes),
//     never swallowed, never an internal error or a stack trace;
//   - a fatal error (exit 1) comes only from the planning reads, and then nothing was written;
//   - every qube not reported failed equals the archive (settings and bytes); every failed
//     qube the run changed carries `backup-restore-in-progress` (unless the faulted call was
//     that very tag);
//   - no qube disappears;
//   - a rerun without faults exits 0 and ends in exactly the state of a clean restore.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import { buildSandbox, type JsonEnvelope, type Sandbox } from '../helpers/sim.ts';
import {
  BACKED_UP,
  IN_PROGRESS,
  adminClient,
  buildTemplateArchive,
  comparable,
  fromTemplate,
  restoreArgs,
  restoreOutcome,
  damage,
  pool,
  removeDir,
  requireFreshBundle,
  snapshot,
  table,
  type TemplateArchive,
} from './helpers/scenario.ts';

type Kind = 'fail' | 'drop' | 'hang';
/** The bound on one Admin API call in the `hang` cases (WYNG_QUBES_QUBESD_TIMEOUT_MS). */
const TIMEOUT_MS = 1500;

let template: TemplateArchive;
let reference: { calls: CallLogEntry[]; final: string; firstWrite: number };

interface RunResult {
  code: number;
  doc: JsonEnvelope | undefined;
  stderr: string;
  ms: number;
}

/** The built program as a separate process: the fake qubesd keeps this process's event loop to itself. */
async function restore(sim: Sandbox, timeoutMs?: number): Promise<RunResult> {
  const started = Date.now();
  const r = await sim.run(restoreArgs(sim, template.sessions[0]!), {
    env: { TZ: 'UTC', ...(timeoutMs !== undefined ? { WYNG_QUBES_QUBESD_TIMEOUT_MS: String(timeoutMs) } : {}) },
  });
  return { code: r.code, doc: r.json, stderr: r.stderr, ms: Date.now() - started };
}

/** The usual damage plus changed firewall rules; `vault` runs (the restore kills it). */
async function setup(): Promise<Sandbox> {
  const sim = await buildSandbox(fromTemplate(template, { running: ['vault'] }));
  await damage(sim);
  await adminClient(sim).setFirewall('work', ['action=drop']);
  return sim;
}

const lastSeq = (sim: Sandbox): number => sim.qubesd.callLog.reduce((m, c) => Math.max(m, c.seq), 0);

before(async () => {
  requireFreshBundle();
  template = await buildTemplateArchive(1);
  const sim = await setup();
  try {
    const base = lastSeq(sim);
    const r = await restore(sim);
    assert.equal(r.code, 0, r.stderr);
    const calls = sim.qubesd.callLog.filter((c) => c.seq > base).sort((a, b) => a.seq - b.seq);
    reference = {
      calls,
      final: await restoreOutcome(sim, template),
      firstWrite: calls.find((c) => c.writes)!.seq - base,
    };
  } finally {
    await sim.stop();
  }
});

after(() => {
  if (template) removeDir(template.dir);
});

interface Outcome {
  kind: Kind;
  n: number;
  hit: string;
  code: number;
  failed: string[];
  ms: number;
  rerun: number;
  problems: string[];
}

async function runCase(kind: Kind, n: number): Promise<Outcome> {
  const sim = await setup();
  const problems: string[] = [];
  try {
    const liveBefore = [...sim.qubesd.state.qubes.keys()];
    const pre = await restoreOutcome(sim, template);
    const preSettings = await snapshot(sim, BACKED_UP);
    const bytesOf = (q: string): Buffer | undefined => {
      const p = sim.qubesd.volumePath(q, 'private');
      return p === undefined ? undefined : readFileSync(p);
    };
    const preBytes = new Map(BACKED_UP.map((q) => [q, bytesOf(q)]));
    const base = lastSeq(sim);
    sim.qubesd.setFaults(
      kind === 'fail'
        ? { failOnCall: base + n }
        : kind === 'drop'
          ? { dropOnCall: base + n }
          : { hangOnCall: base + n },
    );
    const r = await restore(sim, kind === 'hang' ? TIMEOUT_MS : undefined);
    sim.qubesd.setFaults({});
    const hitEntry = sim.qubesd.callLog.find((c) => c.seq === base + n);
    const hit =
      hitEntry === undefined
        ? '(none)'
        : `${hitEntry.method}${hitEntry.arg ? `+${hitEntry.arg}` : ''} ${hitEntry.dest}`;
    if (hitEntry === undefined || !hitEntry.outcome.startsWith('fault-'))
      problems.push(`call ${n} was not faulted (${hitEntry?.outcome ?? 'never made'})`);
    const doc = r.doc;
    if (doc === undefined) problems.push('no JSON document');
    if (/\n\s+at .*:\d+:\d+\)?\n/.test(r.stderr)) problems.push('a stack trace on stderr');
    if (doc?.errors.some((e) => e.kind === 'internal'))
      problems.push(`internal error: ${doc.errors.map((e) => e.message).join('; ')}`);
    if (r.code !== 1 && r.code !== 2) problems.push(`exit ${r.code}: the fault was not reported`);
    if (kind === 'hang' && r.ms > 60_000) problems.push(`took ${r.ms} ms: the wait for the reply was not bounded`);
    const failed = [
      ...new Set((doc?.errors ?? []).map((e) => e.qube).filter((q): q is string => q !== undefined)),
    ].sort();
    const writes = sim.qubesd.callLog.filter((c) => c.seq > base && c.writes && c.outcome === 'ok');
    const now = await snapshot(sim, BACKED_UP);

    if (r.code === 1) {
      if (n >= reference.firstWrite)
        problems.push(`fatal exit after the planning reads (call ${n}, first write is call ${reference.firstWrite})`);
      if (writes.length > 0) problems.push(`fatal exit but ${writes.length} write(s) were made`);
      if ((await restoreOutcome(sim, template)) !== pre) problems.push('fatal exit but the system changed');
    }
    if (r.code === 2) {
      for (const q of BACKED_UP.filter((x) => !failed.includes(x))) {
        if (JSON.stringify(comparable(now.get(q))) !== JSON.stringify(comparable(template.archived.get(q))))
          problems.push(`${q} not reported failed but differs from the archive`);
        const p = sim.qubesd.volumePath(q, 'private');
        if (p === undefined || !readFileSync(p).equals(template.data.get(`${q}/private`)!))
          problems.push(`${q} not reported failed but its data differs`);
      }
      const tagCall = hitEntry !== undefined && hitEntry.method === 'admin.vm.tag.Set' && hitEntry.arg === IN_PROGRESS;
      // a failed qube the run changed is marked (one whose Create or Kill failed was not changed)
      for (const q of failed) {
        const b = bytesOf(q);
        const pb = preBytes.get(q);
        const bytesChanged = b === undefined || pb === undefined ? b !== pb : !b.equals(pb);
        const changed =
          bytesChanged || JSON.stringify(comparable(now.get(q))) !== JSON.stringify(comparable(preSettings.get(q)));
        if (changed && !now.get(q)?.tags.includes(IN_PROGRESS) && !(tagCall && hitEntry.dest === q))
          problems.push(`${q} changed, failed, but not marked ${IN_PROGRESS}`);
      }
    }
    const gone = liveBefore.filter((q) => !sim.qubesd.state.qubes.has(q));
    if (gone.length > 0) problems.push(`qubes deleted: ${gone.join(', ')}`);

    const again = await restore(sim);
    if (again.code !== 0)
      problems.push(`rerun exit ${again.code}: ${again.doc?.errors.map((e) => e.message).join('; ')}`);
    if ((await restoreOutcome(sim, template)) !== reference.final)
      problems.push('rerun did not converge to the state of a clean restore');
    return { kind, n, hit, code: r.code, failed, ms: r.ms, rerun: again.code, problems };
  } finally {
    await sim.stop();
  }
}

test(
  'qubesd faults (error, dropped connection, no reply) at the first, the last and every distinct method of a restore',
  { timeout: 900_000 },
  async (t) => {
    const total = reference.calls.length;
    const firstOf = new Map<string, number>();
    reference.calls.forEach((c, i) => {
      if (!firstOf.has(c.method)) firstOf.set(c.method, i + 1);
    });
    const ns = [...new Set([1, total, ...firstOf.values()])].sort((a, b) => a - b);
    const cases = (['fail', 'drop', 'hang'] as const).flatMap((kind) => ns.map((n) => [kind, n] as const));
    const outcomes = await pool(cases, 4, ([kind, n]) => runCase(kind, n));
    // Reads run in parallel, so call N is not always the same method: a method the sweep missed
    // is tried again at its other positions in the reference run.
    for (const kind of ['fail', 'drop', 'hang'] as const) {
      for (const method of firstOf.keys()) {
        const positions = reference.calls.map((c, i) => (c.method === method ? i + 1 : 0)).filter((n) => n > 0);
        for (const n of [...positions.slice(1, 4), positions[0]!]) {
          if (outcomes.some((o) => o.kind === kind && o.hit.split(/[+ ]/)[0] === method)) break;
          outcomes.push(await runCase(kind, n));
        }
      }
    }
    const text = table(
      ['fault', 'call N', 'faulted call', 'exit', 'failed qubes', 'ms', 'rerun', 'ok'],
      outcomes.map((o) => [
        o.kind,
        `${o.n}/${total}`,
        o.hit,
        String(o.code),
        o.failed.join(',') || '-',
        String(o.ms),
        String(o.rerun),
        o.problems.length === 0 ? 'yes' : `NO ${o.problems.join('; ')}`,
      ]),
      80,
    );
    process.stdout.write(
      `\nqubesd faults during a restore of ${total} Admin API calls (${firstOf.size} methods):\n${text}\n`,
    );
    t.diagnostic(
      `${outcomes.length} cases, ${outcomes.filter((o) => o.problems.length === 0).length} hold every invariant`,
    );
    // every distinct method of the reference run was actually faulted, per fault kind
    for (const kind of ['fail', 'drop', 'hang'] as const) {
      const hitMethods = new Set(outcomes.filter((o) => o.kind === kind).map((o) => o.hit.split(/[+ ]/)[0]));
      assert.deepEqual(
        [...firstOf.keys()].filter((m) => !hitMethods.has(m)),
        [],
        `${kind}: every method faulted`,
      );
    }
    assert.deepEqual(
      outcomes
        .filter((o) => o.problems.length > 0)
        .map((o) => `${o.kind} #${o.n} (${o.hit}): ${o.problems.join('; ')}`),
      [],
    );
  },
);
