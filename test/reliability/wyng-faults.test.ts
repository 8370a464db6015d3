// Wyng fault matrix: every failure mode of the Wyng contract (docs/design.md; Wyng §6, §8, §9,
// §10, §11 — also the "soft" ones that exit 0) injected through the fake Wyng into backup,
// restore, verify, prune and delete. Each case runs the built program against its own
// simulator and its own copy of one archive; the test prints expected vs actual (exit code,
// failed qubes, message) and every row must match, plus what each outcome implies for the
// system (backup_timestamp only on qubes that made it; restored qubes equal the archive;
// failed ones keep `backup-restore-in-progress`; a fatal error before the apply step changes
// nothing; the archive keeps what a failed delete/prune did not remove).
//
// Expected outcomes come from README "Exit codes" (0 ok · 2 some qubes failed · 3 auth ·
// 5/6/7 storage · 9 input · else Wyng's own code) and design.md "Wyng contract" (exit 2 + `.error` →
// those volumes' qubes failed; 3 → auth; 5, 6, 7 → storage; any other non-zero → Wyng's code).
// A Wyng killed by SIGTERM counts as interrupted (8), by another signal as exit 1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { archiveModel } from './helpers/archive-state.ts';
import {
  BACKED_UP,
  IN_PROGRESS,
  INJECT,
  buildTemplateArchive,
  fromTemplate,
  comparable,
  damage,
  pointOf,
  pool,
  removeDir,
  requireFreshBundle,
  snapshot,
  table,
  wyngCalls,
  type TemplateArchive,
} from './helpers/scenario.ts';

type Command = 'backup' | 'restore' | 'verify' | 'prune' | 'delete';
type Point = 'list' | 'send' | 'arch-check' | 'receive-meta' | 'receive' | 'verify' | 'prune' | 'delete';

interface Rule {
  on: Point;
  do: string;
  [k: string]: unknown;
}

interface Expectation {
  code: number;
  failed: string[];
  message: RegExp;
  /** backup: qubes whose backup_timestamp is set by the run */
  stamped?: string[];
  /** restore: qubes equal to the archive afterwards / carrying the in-progress tag */
  restored?: string[];
  tagged?: string[];
  /** restore/verify: no Admin API write at all (a fatal error before anything was changed) */
  noWrites?: boolean;
  /** prune/delete: archive volumes that must still hold their sessions */
  archiveKeeps?: string[];
}

interface Case {
  mode: string;
  contract: string;
  command: Command;
  rule: Rule;
  expect: Expectation;
  extraArgs?: string[];
}

const WORK = 'appvms/work/private.img';
const PERSONAL = 'appvms/personal/private.img';
const META = 'wyng-qubes-metadata';
const RESTORED_ALL = [...BACKED_UP];

/** The main Wyng call of each command (where its fault lands unless the case says otherwise). */
const MAIN: Record<Command, Point> = {
  backup: 'send',
  restore: 'receive',
  verify: 'verify',
  prune: 'prune',
  delete: 'delete',
};

/** Failure modes every Wyng call can hit (design.md "Wyng contract"). */
function generic(command: Command, point: Point = MAIN[command]): Case[] {
  const fatal = (code: number, message: RegExp): Expectation =>
    command === 'delete'
      ? // delete: each volume on its own; a failed volume fails the qube (wyng-util-qubes too)
        {
          code: 2,
          failed: ['work'],
          message: /Could not delete volume 'appvms\/work\/private\.img'/,
          archiveKeeps: [WORK],
        }
      : { code, failed: [], message, ...sideEffectsOfFatal(command, point) };
  const writeCommand = point === 'send' || point === 'prune' || point === 'delete';
  return [
    {
      mode: 'Python traceback (crash)',
      contract: '§8 exit 1',
      command,
      rule: { on: point, do: 'fake', fail: 'crash' },
      expect: fatal(1, /exit 1.*RuntimeError: simulated crash/),
    },
    {
      mode: 'lock busy (another Wyng)',
      contract: '§9 exit 1',
      command,
      rule: { on: point, do: 'lock-busy' },
      expect: fatal(1, /exit 1.*I\/O ERROR obtaining lock/),
    },
    writeCommand
      ? {
          mode: 'not root (write command)',
          contract: '§2 exit 9',
          command,
          rule: { on: point, do: 'fake', fail: 'nonroot' },
          expect: fatal(9, /exit 9.*Must be root\/admin user/),
        }
      : {
          mode: 'not root (lock not writable)',
          contract: '§2 exit 1',
          command,
          rule: { on: point, do: 'fake', fail: 'nonroot' },
          expect: fatal(1, /exit 1.*No writing permission/),
        },
    {
      mode: 'argparse usage error',
      contract: '§8 exit 2 (no .error)',
      command,
      rule: { on: point, do: 'argparse' },
      expect: fatal(2, /exit 2.*unrecognized arguments/),
    },
    {
      mode: 'authentication',
      contract: '§8 exit 3',
      command,
      rule: { on: point, do: 'fake', fail: 'auth' },
      expect: fatal(3, /Could not decrypt\/authenticate/),
    },
    {
      mode: 'destination not ready',
      contract: '§8 exit 5',
      command,
      rule: { on: point, do: 'fake', fail: 'storage5' },
      expect: fatal(5, /Destination not ready/),
    },
    {
      mode: 'archive not found',
      contract: '§8 exit 6',
      command,
      rule: { on: point, do: 'fake', fail: 'storage6' },
      expect: fatal(6, /Archive not found/),
    },
    {
      mode: 'killed by SIGTERM',
      contract: '§8 (no handler)',
      command,
      rule: { on: point, do: 'signal', signal: 'SIGTERM' },
      expect: fatal(8, /interrupted \(SIGTERM\)/),
    },
    {
      mode: 'killed by SIGKILL',
      contract: '§8',
      command,
      rule: { on: point, do: 'signal', signal: 'SIGKILL' },
      expect: fatal(1, /killed by signal SIGKILL/),
    },
    {
      mode: 'archive helper code',
      contract: '§8 exit 40/60/70',
      command,
      rule: { on: point, do: 'exit', code: 40, stderr: 'Error: Remote exited!' },
      expect: fatal(40, /exit 40.*Remote exited/),
    },
    {
      mode: 'StorageError without a code',
      contract: '§8 exit 1 (sys.exit(str))',
      command,
      rule: { on: point, do: 'exit', code: 1, stderr: 'Destination path not found.' },
      expect: fatal(1, /exit 1.*Destination path not found/),
    },
    {
      mode: 'timeout (SIGALRM, no message)',
      contract: '§8 exit 1 (os._exit(1))',
      command,
      rule: { on: point, do: 'exit', code: 1, stderr: '' },
      expect: fatal(1, /exit 1/),
    },
  ];
}

/** What a fatal error at `point` leaves behind. */
function sideEffectsOfFatal(command: Command, point: Point): Partial<Expectation> {
  switch (command) {
    case 'backup':
      // after a successful send the check failing does not undo the backup
      return { stamped: point === 'arch-check' ? RESTORED_ALL : [] };
    case 'restore':
      if (point === 'receive') {
        // qubes created/tagged before the receive keep the tag; nothing is restored
        return { restored: [], tagged: ['fedora-41', 'personal', 'vault', 'work'] };
      }
      return { restored: [], tagged: [], noWrites: true };
    case 'verify':
      return { noWrites: true };
    case 'prune':
      return { archiveKeeps: [WORK, PERSONAL] };
    case 'delete':
      return { archiveKeeps: [WORK] };
  }
}

const CASES: Case[] = [
  // ---- backup -------------------------------------------------------------------------------
  ...generic('backup'),
  {
    mode: 'local storage not ready',
    contract: '§8 exit 7',
    command: 'backup',
    rule: { on: 'send', do: 'fake', fail: 'storage7' },
    expect: { code: 7, failed: [], message: /Generation IDs differ/, stamped: [] },
  },
  {
    mode: 'volume failed (.error)',
    contract: '§6/§8 exit 2',
    command: 'backup',
    rule: { on: 'send', do: 'fake', fail: `send-volume:${WORK}` },
    expect: {
      code: 2,
      failed: ['work'],
      message: /appvms\/work\/private\.img/,
      stamped: ['fedora-41', 'personal', 'vault'],
    },
  },
  {
    mode: 'metadata volume failed (.error)',
    contract: '§6/§8 exit 2',
    command: 'backup',
    rule: { on: 'send', do: 'fake', fail: `send-volume:${META}` },
    expect: { code: 2, failed: [...BACKED_UP], message: /metadata volume was not stored/, stamped: [] },
  },
  {
    mode: 'pool not snapshot-capable',
    contract: '§11 exit 2, nothing sent',
    command: 'backup',
    rule: { on: 'send', do: 'fake', fail: 'no-snapshot:POOL' },
    expect: {
      code: 2,
      failed: ['work'],
      message: /appvms\/work\/private\.img/,
      stamped: ['fedora-41', 'personal', 'vault'],
    },
  },
  {
    mode: 'interrupted (SIGINT)',
    contract: '§10 exit 8',
    command: 'backup',
    rule: { on: 'send', do: 'fake', fail: 'interrupt-after:1' },
    expect: { code: 8, failed: [], message: /interrupted/, stamped: [] },
  },
  {
    mode: 'local volume missing (exit 0)',
    contract: '§6 warning, exit 0',
    command: 'backup',
    rule: { on: 'send', do: 'rm-local-volume', volume: PERSONAL },
    expect: {
      code: 2,
      failed: ['personal'],
      message: /appvms\/personal\/private\.img/,
      stamped: ['fedora-41', 'vault', 'work'],
    },
  },
  {
    mode: '--local-from file missing',
    contract: '§6 send: exit 2',
    command: 'backup',
    rule: { on: 'send', do: 'rm-list-file' },
    expect: { code: 2, failed: [...BACKED_UP], message: /stored no session/, stamped: [] },
  },
  {
    mode: '--local-from malformed',
    contract: '§6 exit 9',
    command: 'backup',
    rule: { on: 'send', do: 'corrupt-list-file' },
    expect: { code: 9, failed: [], message: /malformed json/, stamped: [] },
  },
  {
    mode: '--local-from duplicate name',
    contract: '§6 exit 9',
    command: 'backup',
    rule: { on: 'send', do: 'dup-list-file' },
    expect: { code: 9, failed: [], message: /Duplicate volume name/, stamped: [] },
  },
  ...generic('backup', 'arch-check')
    .filter((c) => /crash|authentication|SIGTERM/.test(c.mode))
    .map((c) => ({ ...c, mode: `check after send: ${c.mode}`, extraArgs: ['--check-after-send'] })),
  {
    mode: 'list: authentication',
    contract: '§8 exit 3',
    command: 'backup',
    rule: { on: 'list', do: 'fake', fail: 'auth' },
    expect: { code: 3, failed: [], message: /Could not decrypt/, stamped: [] },
  },

  // ---- restore ------------------------------------------------------------------------------
  ...generic('restore'),
  {
    mode: 'volume failed (.error)',
    contract: '§6/§8 exit 2',
    command: 'restore',
    rule: { on: 'receive', do: 'fake', fail: `receive-volume:${WORK}` },
    expect: {
      code: 2,
      failed: ['work'],
      message: /Wyng could not restore volume 'appvms\/work\/private\.img'/,
      restored: ['fedora-41', 'personal', 'vault'],
      tagged: ['work'],
    },
  },
  {
    mode: 'interrupted (SIGINT)',
    contract: '§10 exit 8',
    command: 'restore',
    rule: { on: 'receive', do: 'fake', fail: 'interrupt-after:1' },
    expect: {
      code: 8,
      failed: [],
      message: /interrupted/,
      restored: [],
      tagged: ['fedora-41', 'personal', 'vault', 'work'],
    },
  },
  {
    mode: '--local-from file missing (exit 0)',
    contract: '§6 receive: nothing, exit 0',
    command: 'restore',
    rule: { on: 'receive', do: 'rm-list-file' },
    expect: {
      code: 2,
      failed: ['fedora-41', 'personal', 'vault', 'work'],
      message: /Wyng could not restore volume 'appvms\/work\/private\.img'/,
      restored: [],
      tagged: ['fedora-41', 'personal', 'vault', 'work'],
    },
  },
  {
    mode: '--local-from malformed',
    contract: '§6 exit 9',
    command: 'restore',
    rule: { on: 'receive', do: 'corrupt-list-file' },
    expect: {
      code: 9,
      failed: [],
      message: /malformed json/,
      restored: [],
      tagged: ['fedora-41', 'personal', 'vault', 'work'],
    },
  },
  {
    mode: 'archive volume gone (KeyError)',
    contract: '§6 exit 1',
    command: 'restore',
    rule: { on: 'receive', do: 'rm-archive-volume', volume: PERSONAL },
    expect: {
      code: 1,
      failed: [],
      message: /exit 1.*KeyError/,
      restored: [],
      tagged: ['fedora-41', 'personal', 'vault', 'work'],
    },
  },
  {
    mode: 'metadata: session missing (exit 2)',
    contract: '§11 exit 2',
    command: 'restore',
    rule: { on: 'receive-meta', do: 'fake', fail: `receive-volume:${META}` },
    expect: {
      code: 2,
      failed: [],
      message: /metadata of session .* failed \(exit 2\)/,
      restored: [],
      tagged: [],
      noWrites: true,
    },
  },
  ...generic('restore', 'receive-meta')
    .filter((c) => /crash|auth|archive not found|SIGTERM/.test(c.mode))
    .map((c) => ({ ...c, mode: `metadata: ${c.mode}` })),
  {
    mode: 'list: archive not found',
    contract: '§8 exit 6',
    command: 'restore',
    rule: { on: 'list', do: 'fake', fail: 'storage6' },
    expect: { code: 6, failed: [], message: /Archive not found/, restored: [], tagged: [], noWrites: true },
  },

  // ---- verify -------------------------------------------------------------------------------
  ...generic('verify'),
  {
    mode: 'volume failed (.error)',
    contract: '§6/§8 exit 2',
    command: 'verify',
    rule: { on: 'verify', do: 'fake', fail: `verify-volume:${WORK}` },
    expect: {
      code: 2,
      failed: ['work'],
      message: /Verification failed for volume 'appvms\/work\/private\.img'/,
      noWrites: true,
    },
  },
  {
    mode: 'interrupted (SIGINT)',
    contract: '§10 exit 8',
    command: 'verify',
    rule: { on: 'verify', do: 'fake', fail: 'interrupt-after:1' },
    expect: { code: 8, failed: [], message: /interrupted/, noWrites: true },
  },
  {
    mode: 'archive volume gone (KeyError)',
    contract: '§6 exit 1',
    command: 'verify',
    rule: { on: 'verify', do: 'rm-archive-volume', volume: PERSONAL },
    expect: { code: 1, failed: [], message: /exit 1.*KeyError/, noWrites: true },
  },
  {
    mode: '--vols-from malformed',
    contract: '§6 exit 9',
    command: 'verify',
    rule: { on: 'verify', do: 'corrupt-list-file' },
    expect: { code: 9, failed: [], message: /malformed json/, noWrites: true },
  },
  {
    mode: 'list: authentication',
    contract: '§8 exit 3',
    command: 'verify',
    rule: { on: 'list', do: 'fake', fail: 'auth' },
    expect: { code: 3, failed: [], message: /Could not decrypt/, noWrites: true },
  },

  // ---- prune --------------------------------------------------------------------------------
  ...generic('prune'),
  {
    mode: 'unknown volume skipped (exit 0)',
    contract: '§11 exit 0',
    command: 'prune',
    rule: { on: 'prune', do: 'rm-archive-volume', volume: PERSONAL },
    expect: {
      code: 1,
      failed: [],
      message: /Wyng did not find volumes: appvms\/personal\/private\.img/,
      archiveKeeps: [],
    },
  },
  {
    mode: 'session already gone (exit 0, -0)',
    contract: '§11 exit 0',
    command: 'prune',
    rule: { on: 'prune', do: 'prune-first' },
    expect: { code: 0, failed: [], message: /^$/, archiveKeeps: [] },
  },
  {
    mode: 'list: destination not ready',
    contract: '§8 exit 5',
    command: 'prune',
    rule: { on: 'list', do: 'fake', fail: 'storage5' },
    expect: { code: 5, failed: [], message: /Destination not ready/, archiveKeeps: [WORK, PERSONAL] },
  },

  // ---- delete -------------------------------------------------------------------------------
  ...generic('delete'),
  {
    mode: 'volume already gone (exit 1)',
    contract: '§11 delete: exit 1',
    command: 'delete',
    rule: { on: 'delete', do: 'rm-archive-volume', volume: WORK },
    expect: {
      code: 2,
      failed: ['work'],
      message: /Could not delete volume 'appvms\/work\/private\.img' \(exit 1\)/,
      archiveKeeps: [],
    },
  },
  {
    mode: 'list: authentication',
    contract: '§8 exit 3',
    command: 'delete',
    rule: { on: 'list', do: 'fake', fail: 'auth' },
    expect: { code: 3, failed: [], message: /Could not decrypt/, archiveKeeps: [WORK] },
  },
];

let template: TemplateArchive;

before(async () => {
  requireFreshBundle();
  template = await buildTemplateArchive(2);
});

after(() => {
  if (template) removeDir(template.dir);
});

function argsFor(c: Case, sim: Sandbox): string[] {
  const [s1, s2] = template.sessions as [string, string];
  const common = ['--dest', sim.archiveUrl, '-u', '--json', ...(c.extraArgs ?? [])];
  switch (c.command) {
    case 'backup':
      return ['backup', ...common, ...BACKED_UP];
    case 'restore':
      return ['restore', ...common, '--allow-reach=all', '--no-qubes-post', '--session', s2, ...BACKED_UP];
    case 'verify':
      return ['verify', ...common, '--session', s2, ...BACKED_UP];
    case 'prune':
      return ['prune', ...common, '--session', s1, 'work', 'personal'];
    case 'delete':
      return ['delete', ...common, 'work'];
  }
}

interface Outcome {
  code: number;
  failed: string[];
  message: string;
  problems: string[];
}

async function runCase(c: Case): Promise<Outcome> {
  const sim = await buildSandbox(fromTemplate(template));
  try {
    if (c.command === 'restore') await damage(sim);
    // `POOL` in a fault stands for the pool directory of `work`'s volume
    const rule = JSON.parse(
      JSON.stringify(c.rule).replace(
        'POOL',
        sim.qubesd.volumePath('work', 'private')!.replace(/\/appvms\/work\/private\.img$/, ''),
      ),
    ) as Rule;
    const markers = mkdtempSync(join(sim.dir, 'inject-'));
    const before = await snapshot(sim, BACKED_UP);
    const callsBefore = sim.qubesd.callLog.length;
    const r = await sim.run(argsFor(c, sim), {
      env: {
        WYNG_QUBES_WYNG: INJECT,
        WQ_INJECT: JSON.stringify([rule]),
        WQ_INJECT_DIR: markers,
        TZ: 'UTC',
        // a busy Wyng lock is waited for this long (then Wyng's refusal stands: test/e2e/wyng-lock-wait.test.ts)
        WYNG_QUBES_LOCK_TIMEOUT_MS: '1500',
      },
    });
    const doc = r.json;
    const problems: string[] = [];
    if (doc === undefined) problems.push(`no JSON document (stdout: ${r.stdout.slice(0, 200)})`);
    if (/\n\s+at .*:\d+:\d+\)?\n/.test(r.stderr)) problems.push('a stack trace on stderr');
    if (doc !== undefined && doc.exitCode !== r.code)
      problems.push(`document exitCode ${doc.exitCode} ≠ exit status ${r.code}`);
    // the fault landed where the case says (a call dying of a signal never reaches the fake)
    if (c.rule.do !== 'signal' && c.rule.do !== 'exit' && !wyngCalls(sim).some((w) => pointOf(w.argv) === c.rule.on))
      problems.push(`no ${c.rule.on} call reached the fake`);
    const failed = [
      ...new Set((doc?.errors ?? []).map((e) => e.qube).filter((q): q is string => q !== undefined)),
    ].sort();
    const message = (doc?.errors ?? []).map((e) => e.message).join(' | ');

    const after = await snapshot(sim, BACKED_UP);
    const writes = sim.qubesd.callLog.slice(callsBefore).filter((e) => e.writes);
    const e = c.expect;
    if (e.stamped !== undefined) {
      const stamped = BACKED_UP.filter(
        (q) => after.get(q)?.properties.backup_timestamp !== before.get(q)?.properties.backup_timestamp,
      );
      if (stamped.join() !== [...e.stamped].sort().join())
        problems.push(`backup_timestamp set on [${stamped.join(', ')}], expected [${e.stamped.join(', ')}]`);
      const okQubes = ((doc?.result as { qubes?: Array<{ name: string; status: string }> } | null)?.qubes ?? [])
        .filter((q) => q.status === 'ok')
        .map((q) => q.name);
      if (doc?.result && okQubes.sort().join() !== stamped.join())
        problems.push(`reported ok [${okQubes.join(', ')}] but stamped [${stamped.join(', ')}]`);
    }
    if (e.noWrites && writes.length > 0)
      problems.push(
        `${writes.length} Admin API write(s): ${writes
          .slice(0, 3)
          .map((w) => `${w.method} ${w.dest}`)
          .join(', ')}`,
      );
    if (e.noWrites) {
      for (const q of BACKED_UP) {
        if (JSON.stringify(comparable(after.get(q))) !== JSON.stringify(comparable(before.get(q))))
          problems.push(`${q} changed`);
      }
    }
    if (e.restored !== undefined) {
      const restored = BACKED_UP.filter(
        (q) => JSON.stringify(comparable(after.get(q))) === JSON.stringify(comparable(template.archived.get(q))),
      );
      const bytesOk = BACKED_UP.filter((q) => {
        const p = sim.qubesd.volumePath(q, 'private');
        return p !== undefined && readFileSync(p).equals(template.data.get(`${q}/private`)!);
      });
      for (const q of e.restored) {
        if (!restored.includes(q)) problems.push(`${q} not restored (settings)`);
        if (!bytesOk.includes(q)) problems.push(`${q} not restored (data)`);
      }
      const reported = ((doc?.result as { qubes?: Array<{ name: string; status: string }> } | null)?.qubes ?? [])
        .filter((q) => q.status === 'restored')
        .map((q) => q.name);
      for (const q of reported)
        if (!restored.includes(q) || !bytesOk.includes(q))
          problems.push(`${q} reported restored but differs from the archive`);
    }
    if (e.tagged !== undefined) {
      const tagged = BACKED_UP.filter((q) => after.get(q)?.tags.includes(IN_PROGRESS));
      if (tagged.join() !== [...e.tagged].sort().join())
        problems.push(`tagged [${tagged.join(', ')}], expected [${e.tagged.join(', ')}]`);
    }
    if (e.archiveKeeps !== undefined) {
      const model = archiveModel(sim);
      for (const v of e.archiveKeeps) {
        if ((model.volumeSessions[v] ?? []).length === 0) problems.push(`archive lost ${v}`);
        if (c.command === 'prune' && !(model.volumeSessions[v] ?? []).includes(template.sessions[0]!))
          problems.push(`${v} lost session ${template.sessions[0]}`);
      }
    }
    return { code: r.code, failed, message, problems };
  } finally {
    await sim.stop();
  }
}

test(
  `Wyng fault matrix: ${CASES.length} injected failures across backup, restore, verify, prune, delete`,
  { timeout: 600_000 },
  async (t) => {
    const outcomes = await pool(CASES, 4, runCase);
    const rows = CASES.map((c, i) => {
      const o = outcomes[i]!;
      const match =
        o.code === c.expect.code &&
        o.failed.join() === [...c.expect.failed].sort().join() &&
        c.expect.message.test(o.message) &&
        o.problems.length === 0;
      return { c, o, match };
    });
    const text = table(
      [
        'command',
        'fault',
        'contract',
        'expected exit',
        'actual exit',
        'expected failed',
        'actual failed',
        'message',
        'match',
      ],
      rows.map(({ c, o, match }) => [
        c.command,
        c.mode,
        c.contract,
        String(c.expect.code),
        String(o.code),
        c.expect.failed.join(',') || '-',
        o.failed.join(',') || '-',
        o.message || '-',
        match ? 'yes' : `NO ${o.problems.join('; ')}`,
      ]),
      70,
    );
    process.stdout.write(`\nWyng fault matrix (expected vs actual):\n${text}\n`);
    const matched = rows.filter((r) => r.match).length;
    t.diagnostic(`${matched}/${rows.length} rows match (${((100 * matched) / rows.length).toFixed(1)} %)`);
    const bad = rows
      .filter((r) => !r.match)
      .map(
        ({ c, o }) =>
          `${c.command} / ${c.mode}: exit ${o.code} (want ${c.expect.code}), failed ` +
          `[${o.failed.join(', ')}] (want [${c.expect.failed.join(', ')}]), message '${o.message}' (want ` +
          `${c.expect.message}); ${o.problems.join('; ')}`,
      );
    assert.deepEqual(bad, [], 'every row matches');
    // the matrix covers every command and every failure class of design.md "Wyng contract"
    for (const cmd of ['backup', 'restore', 'verify', 'prune', 'delete'])
      assert.ok(
        CASES.some((c) => c.command === cmd),
        cmd,
      );
    for (const code of [0, 1, 2, 3, 5, 6, 7, 8, 9, 40])
      assert.ok(
        CASES.some((c) => c.expect.code === code),
        `a case exits ${code}`,
      );
  },
);
