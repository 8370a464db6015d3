import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { WqError } from '../../src/core/errors.ts';
import { narrowRequest, PROFILE_NAME, ProfileSchema, RPC_OPERATIONS, type Profile } from '../../src/core/profiles.ts';
import { MAX_REQUEST_BYTES, validateCall, type RawCall } from '../../src/core/rpc.ts';
import { onlyDocument, qrexecEnv, rpcInProcess, rpcSandboxOptions } from '../helpers/rpc.ts';
import { buildSandbox } from '../helpers/sim.ts';

/**
 * Property-based fuzz of the RPC trust boundary: the qrexec argument, service name, caller
 * and stdin. Every input either becomes a plan inside the profile's permissions or is refused
 * with one of our typed errors — never a crash — and nothing runs for a refused input.
 */

const PROFILES: Record<string, Profile> = {
  nightly: ProfileSchema.parse({
    dest: 'file:/mnt/backup',
    qubes: ['work', 'personal'],
    remote: { operations: [...RPC_OPERATIONS], restore_qubes: ['work'], callers: ['mgmt'] },
  }),
  weekly: ProfileSchema.parse({ dest: 'file:/mnt/weekly', includes: true, remote: { operations: ['List', 'Status'] } }),
};

const qubeish = fc.oneof(
  fc.constantFrom(
    'work',
    'personal',
    'vault',
    'dom0',
    'sys-net',
    'disp42',
    '',
    '1bad',
    'a'.repeat(32),
    'x-dm',
    'none',
    '../x',
    'work ',
    '-work',
  ),
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^[a-z][a-z0-9_.-]{0,34}$/),
);
const sessionish = fc.oneof(
  fc.constantFrom('20250101-000000', '20250101-000000,20250301-000000', 'newest', '^tag', '', '2025-01-01'),
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^\d{8}-\d{6}(,\d{8}-\d{6})?$/),
);
const requestLike = fc.record(
  {
    qubes: fc.oneof(fc.array(qubeish, { maxLength: 6 }), fc.anything()),
    exclude: fc.oneof(fc.array(qubeish, { maxLength: 4 }), fc.anything()),
    session: fc.oneof(sessionish, fc.anything()),
    dryRun: fc.oneof(fc.boolean(), fc.anything()),
    includeDisposable: fc.oneof(fc.boolean(), fc.anything()),
    dest: fc.string(),
    wyngopt: fc.array(fc.string()),
    __proto__: fc.object(),
  },
  { requiredKeys: [] },
);
const stdinArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: requestLike.map((r) => Buffer.from(JSON.stringify(r))) },
  { weight: 2, arbitrary: fc.json().map((j) => Buffer.from(j)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(Buffer.from(''), Buffer.from('{}'), Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20)),
  },
);
const argumentArb = fc.oneof(
  fc.constantFrom(
    'nightly',
    'weekly',
    'monthly',
    'Nightly',
    '',
    '..',
    '-x',
    'night_ly',
    'a+b',
    'nightly\n',
    'nightly ',
  ),
  fc.string({ maxLength: 80 }),
  fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,70}$/),
);
const serviceArb = fc.oneof(
  fc.constantFrom(...RPC_OPERATIONS.map((o) => `wyng.${o}`)),
  fc.constantFrom('wyng.Delete', 'wyng.backup', 'wyng.', 'qubes.Backup', '', 'wyng.Backup '),
  fc.string({ maxLength: 30 }),
);
const callerArb = fc.oneof(fc.constantFrom('mgmt', 'dom0', 'work', '', '1bad', 'mgmt\n'), fc.string({ maxLength: 40 }));

/** The request fields each service documents (rpc/README.md). */
const ACCEPTS: Record<(typeof RPC_OPERATIONS)[number], string[]> = {
  Backup: ['qubes', 'exclude'],
  Restore: ['qubes', 'exclude', 'session', 'dryRun', 'includeDisposable'],
  Verify: ['qubes', 'exclude', 'session', 'includeDisposable'],
  List: ['qubes', 'session', 'includeDisposable'],
  Prune: ['qubes', 'session'],
  Status: [],
};

/** Well-formed calls with plausible values: these exercise the narrowing, not only the parser. */
const plausibleCallArb: fc.Arbitrary<RawCall> = fc
  .record({
    op: fc.constantFrom(...RPC_OPERATIONS),
    profile: fc.constantFrom('nightly', 'weekly', 'monthly'),
    caller: fc.constantFrom('mgmt', 'dom0', 'work'),
    request: fc.record(
      {
        qubes: fc.uniqueArray(fc.constantFrom('work', 'personal', 'vault', 'dom0'), { maxLength: 3 }),
        exclude: fc.uniqueArray(fc.constantFrom('work', 'personal', 'scratch'), { maxLength: 2 }),
        session: fc.constantFrom('20250101-000000', '20250101-000000,20250301-000000'),
        dryRun: fc.boolean(),
        includeDisposable: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    onlyAccepted: fc.boolean(),
  })
  .map((r) => {
    const request: Record<string, unknown> = { ...r.request };
    if (r.onlyAccepted) for (const k of Object.keys(request)) if (!ACCEPTS[r.op].includes(k)) delete request[k];
    return {
      scriptService: `wyng.${r.op}`,
      fullName: `wyng.${r.op}+${r.profile}`,
      argument: r.profile,
      remoteDomain: r.caller,
      stdin: Buffer.from(JSON.stringify(request)),
    };
  });

const hostileCallArb: fc.Arbitrary<RawCall> = fc
  .record({
    service: serviceArb,
    argument: argumentArb,
    caller: fc.option(callerArb, { nil: undefined }),
    form: fc.constantFrom('qrexec', 'qrexec-no-arg-var', 'dom0-direct', 'mismatch', 'random'),
    script: fc.option(serviceArb, { nil: undefined }),
    randomFull: fc.string({ maxLength: 60 }),
    stdin: stdinArb,
  })
  .map((r) => {
    const full = `${r.service}+${r.argument}`;
    switch (r.form) {
      case 'qrexec':
        return {
          scriptService: r.script ?? r.service,
          fullName: full,
          argument: r.argument,
          remoteDomain: r.caller,
          stdin: r.stdin,
        };
      case 'qrexec-no-arg-var':
        return { scriptService: r.script, fullName: full, argument: undefined, remoteDomain: r.caller, stdin: r.stdin };
      case 'dom0-direct':
        return {
          scriptService: r.service,
          fullName: undefined,
          argument: r.argument,
          remoteDomain: r.caller,
          stdin: r.stdin,
        };
      case 'mismatch':
        return {
          scriptService: r.script,
          fullName: full,
          argument: `${r.argument}x`,
          remoteDomain: r.caller,
          stdin: r.stdin,
        };
      default:
        return {
          scriptService: r.script,
          fullName: r.randomFull,
          argument: r.argument,
          remoteDomain: r.caller,
          stdin: r.stdin,
        };
    }
  });

const rawCallArb: fc.Arbitrary<RawCall> = fc.oneof(
  { weight: 3, arbitrary: hostileCallArb },
  { weight: 1, arbitrary: plausibleCallArb },
);

test(
  'fuzz: 12,000 qrexec calls (argument + stdin) — a plan inside the profile or a typed ' + 'refusal, never a crash',
  () => {
    let plans = 0;
    let refusals = 0;
    fc.assert(
      fc.property(rawCallArb, (raw) => {
        let call;
        try {
          call = validateCall(raw);
        } catch (err) {
          assert.ok(err instanceof WqError, `untyped failure: ${String(err)}`);
          assert.equal(err.kind, 'input');
          refusals++;
          return;
        }
        assert.match(call.profile, PROFILE_NAME);
        assert.ok((RPC_OPERATIONS as readonly string[]).includes(call.operation));
        assert.ok(raw.stdin.length <= MAX_REQUEST_BYTES);
        const profile = Object.hasOwn(PROFILES, call.profile) ? PROFILES[call.profile] : undefined;
        if (profile === undefined) {
          refusals++;
          return;
        }
        let plan;
        try {
          plan = narrowRequest(call.operation, call.profile, profile, call.request, call.caller);
        } catch (err) {
          assert.ok(err instanceof WqError, `untyped failure: ${String(err)}`);
          assert.ok(err.kind === 'input' || err.kind === 'forbidden', err.kind);
          refusals++;
          return;
        }
        plans++;
        // Whatever passed is inside the profile's permissions.
        assert.ok(profile.remote.operations.includes(plan.operation));
        if (call.caller !== 'dom0' && profile.remote.callers !== undefined)
          assert.ok(profile.remote.callers.includes(call.caller));
        if (plan.operation === 'Status') return;
        if (plan.operation === 'Backup' && call.request.qubes !== undefined) {
          for (const q of plan.options.qubes) assert.ok(profile.qubes.includes(q), q);
          assert.equal(plan.options.includes, false);
        }
        if (plan.operation === 'Backup' && call.request.qubes === undefined)
          assert.deepEqual(plan.options.qubes, profile.qubes);
        if (plan.operation === 'Restore') {
          assert.ok(plan.options.qubes.length > 0);
          for (const q of plan.options.qubes) assert.ok(profile.remote.restore_qubes.includes(q), q);
          assert.ok(call.caller === 'dom0' || (profile.remote.callers ?? []).includes(call.caller));
        }
        for (const k of Object.keys(plan.options)) {
          assert.ok(['qubes', 'includes', 'exclude', 'session', 'dryRun', 'includeDisposable'].includes(k), k);
        }
      }),
      { numRuns: 12_000, seed: Number(process.env.WYNG_QUBES_FUZZ_SEED ?? 20250707) },
    );
    assert.ok(plans > 200, `enough valid plans generated (${plans})`);
    assert.ok(refusals > 1000, `enough refusals generated (${refusals})`);
  },
);

test('fuzz: refused calls through the real entry point answer one JSON error and never run Wyng', async () => {
  const sandbox = await buildSandbox(
    rpcSandboxOptions(
      (sb) => `profiles:
  nightly:
    dest: ${sb.archiveUrl}
    qubes: [work, personal]
    remote: { operations: [Backup, Restore, Verify, List, Prune, Status], restore_qubes: [work], callers: [mgmt] }
  weekly:
    dest: file:/mnt/weekly
    includes: true
    remote: { operations: [List, Status] }
`,
    ),
  );
  // A stand-in qubesd socket that counts connections: no refused call may reach qubesd.
  let qubesdConnections = 0;
  const socketPath = join(sandbox.dir, 'qubesd.sock');
  const qubesd = createServer((conn) => {
    qubesdConnections++;
    conn.destroy();
  });
  await new Promise<void>((resolve) => qubesd.listen(socketPath, resolve));
  sandbox.env.WYNG_QUBES_QUBESD_SOCKET = socketPath;
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(rawCallArb, async (raw) => {
      // Only inputs the pure validation refuses, or that narrowing refuses.
      let refused = false;
      try {
        const call = validateCall(raw);
        const profile = Object.hasOwn(PROFILES, call.profile) ? PROFILES[call.profile] : undefined;
        if (profile === undefined) refused = true;
        else narrowRequest(call.operation, call.profile, profile, call.request, call.caller);
      } catch {
        refused = true;
      }
      fc.pre(refused);
      runs++;
      const env = {
        ...sandbox.env,
        ...(raw.fullName !== undefined ? { QREXEC_SERVICE_FULL_NAME: raw.fullName } : {}),
        ...(raw.argument !== undefined ? { QREXEC_SERVICE_ARGUMENT: raw.argument } : {}),
        ...(raw.remoteDomain !== undefined ? { QREXEC_REMOTE_DOMAIN: raw.remoteDomain } : {}),
      };
      const r = await rpcInProcess(raw.scriptService, env, raw.stdin);
      const doc = onlyDocument(r.stdout);
      assert.equal(doc.ok, false);
      assert.equal(r.code, 9);
      assert.equal(doc.exitCode, 9);
      assert.ok(['input', 'forbidden', 'config'].includes(doc.errors[0]!.kind), doc.errors[0]!.kind);
    }),
    { numRuns: 400, seed: 7 },
  );
  assert.ok(runs >= 400);
  assert.deepEqual(sandbox.wyngCalls(), [], 'no Wyng call for any refused input');
  assert.equal(qubesdConnections, 0, 'no qubesd call for any refused input');
  assert.equal(sandbox.auditLines().length, runs, 'one audit line per call');
  assert.ok(sandbox.auditLines().every((l) => l.outcome === 'refused'));
  // Sanity: the same sandbox does run Wyng for an allowed call.
  const ok = await rpcInProcess('wyng.List', { ...sandbox.env, ...qrexecEnv('wyng.List', 'nightly', 'mgmt') }, '{}');
  assert.equal(onlyDocument(ok.stdout).ok, true, ok.stderr);
  assert.equal(sandbox.wyngCalls().length, 1);
  // ... and an allowed Backup does reach (this stand-in) qubesd: the counter can see calls.
  await rpcInProcess('wyng.Backup', { ...sandbox.env, ...qrexecEnv('wyng.Backup', 'nightly', 'mgmt') }, '{}');
  await new Promise<void>((resolve) => qubesd.close(() => resolve()));
  assert.ok(qubesdConnections > 0);
});
