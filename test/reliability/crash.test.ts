// Crash anywhere: the built program is killed with SIGKILL (the test-only hook
// WYNG_QUBES_TEST_CRASH_AT=<step>:<n>, src/core/test-hook.ts, present only in the test build
// dist/test-hooks/wyng-qubes.mjs; the rerun is the shipped bundle) at every step boundary of a
// restore (after stopping a running qube, after removing a qube of the wrong class, after each
// create, after the receive, after each qube's settings, after each qube's verification) and
// of a backup (before and after the send, after each backup_timestamp). Then it runs again:
//   - the killed run really died at that step (no JSON document, SIGKILL);
//   - no qube was deleted except the one being replaced;
//   - the rerun exits 0 and the final state equals that of a clean run (restore: qubes,
//     settings and bytes; backup: the newest session holds every volume and the metadata,
//     it verifies, every qube got its backup_timestamp);
//   - no temp files are left: the job's temp dir (also the killed run's), notes temp files,
//     the job lock in the state dir.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { QubeSettings } from '../../src/core/qubes/model.ts';
import { TEST_HOOKS_BUNDLE } from '../helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { archiveModel } from './helpers/archive-state.ts';
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
  leftovers,
  pool,
  removeDir,
  requireFreshBundle,
  snapshot,
  table,
  type TemplateArchive,
} from './helpers/scenario.ts';

let template: TemplateArchive;
let cleanRestore: string;
let cleanBackupVolumes: string[];

/**
 * `vault` running (restore stops it), `personal` replaced by a StandaloneVM (restore removes and
 * re-creates it), plus the usual damage.
 */
async function setupRestore(sim: Sandbox): Promise<void> {
  await damage(sim);
  await adminClient(sim).createQube({ klass: 'StandaloneVM', name: 'personal', label: 'purple' });
}

function envFor(crashAt?: string): Record<string, string> {
  return { TZ: 'UTC', ...(crashAt !== undefined ? { WYNG_QUBES_TEST_CRASH_AT: crashAt } : {}) };
}

const backupArgs = (sim: Sandbox): string[] => ['backup', '--dest', sim.archiveUrl, '-u', '--json', ...BACKED_UP];

function newestSessionVolumes(sim: Sandbox): { session: string; volumes: string[] } {
  const m = archiveModel(sim);
  const session = m.qubesSessions[m.qubesSessions.length - 1]!;
  return { session, volumes: m.sessionVolumes[session] ?? [] };
}

/** Settings of BACKED_UP after setupRestore, before any restore. */
let preRestore: Map<string, QubeSettings>;

before(async () => {
  requireFreshBundle();
  requireFreshBundle(TEST_HOOKS_BUNDLE);
  template = await buildTemplateArchive(1);
  const sim = await buildSandbox(fromTemplate(template, { running: ['vault'] }));
  try {
    await setupRestore(sim);
    preRestore = await snapshot(sim, BACKED_UP);
    const r = await sim.run(restoreArgs(sim, template.sessions[0]!), { env: envFor() });
    assert.equal(r.code, 0, r.stderr);
    cleanRestore = await restoreOutcome(sim, template);
    const b = await sim.run(backupArgs(sim), { env: envFor() });
    assert.equal(b.code, 0, b.stderr);
    cleanBackupVolumes = newestSessionVolumes(sim).volumes;
  } finally {
    await sim.stop();
  }
});

after(() => {
  if (template) removeDir(template.dir);
});

interface Outcome {
  step: string;
  killed: boolean;
  leftBehind: number;
  rerun: number;
  problems: string[];
}

async function crashRestore(step: string): Promise<Outcome> {
  const sim = await buildSandbox(fromTemplate(template, { running: ['vault'] }));
  const problems: string[] = [];
  try {
    await setupRestore(sim);
    const before = new Set(sim.qubesd.state.qubes.keys());
    const r = await sim.run(restoreArgs(sim, template.sessions[0]!), { env: envFor(step), bundle: TEST_HOOKS_BUNDLE });
    const killed = r.signal === 'SIGKILL' && r.stdout.trim() === '';
    if (!killed) problems.push(`not killed at ${step} (exit ${r.code})`);
    const deleted = [...before].filter((q) => !sim.qubesd.state.qubes.has(q) && q !== 'personal');
    if (deleted.length > 0) problems.push(`deleted qubes that were not being replaced: ${deleted.join(', ')}`);
    const leftBehind = leftovers(join(sim.dir, 'tmp'), sim).length;
    // a qube the killed run changed carries the in-progress tag, so a user sees an unfinished
    // restore — except in the one window qubesd leaves open: created, not yet tagged
    const marked = await snapshot(sim, BACKED_UP);
    const pre = preRestore;
    const unmarked = BACKED_UP.filter(
      (q) =>
        marked.has(q) &&
        !marked.get(q)!.tags.includes(IN_PROGRESS) &&
        JSON.stringify(comparable(marked.get(q))) !== JSON.stringify(comparable(template.archived.get(q))) &&
        JSON.stringify(comparable(marked.get(q))) !== JSON.stringify(comparable(pre.get(q))),
    );
    if (unmarked.length > 0 && !(step.startsWith('restore:created') && unmarked.join() === 'personal'))
      problems.push(`changed but not marked ${IN_PROGRESS}: ${unmarked.join(', ')}`);
    const again = await sim.run(restoreArgs(sim, template.sessions[0]!), { env: envFor() });
    if (again.code !== 0) problems.push(`rerun exit ${again.code}: ${again.stderr.split('\n').slice(-3).join(' ')}`);
    if ((await restoreOutcome(sim, template)) !== cleanRestore)
      problems.push('the rerun did not end in the state of a clean restore');
    const left = leftovers(join(sim.dir, 'tmp'), sim);
    if (left.length > 0) problems.push(`left after the rerun: ${left.join(', ')}`);
    return { step, killed, leftBehind, rerun: again.code, problems };
  } finally {
    await sim.stop();
  }
}

async function crashBackup(step: string): Promise<Outcome> {
  const sim = await buildSandbox(fromTemplate(template));
  const problems: string[] = [];
  try {
    const before = new Set(sim.qubesd.state.qubes.keys());
    const stampsBefore = await snapshot(sim, BACKED_UP);
    const r = await sim.run(backupArgs(sim), { env: envFor(step), bundle: TEST_HOOKS_BUNDLE });
    const killed = r.signal === 'SIGKILL' && r.stdout.trim() === '';
    if (!killed) problems.push(`not killed at ${step} (exit ${r.code})`);
    const leftBehind = leftovers(join(sim.dir, 'tmp'), sim).length;
    const started = Math.floor(Date.now() / 1000);
    const again = await sim.run(backupArgs(sim), { env: envFor() });
    if (again.code !== 0) problems.push(`rerun exit ${again.code}: ${again.stderr.split('\n').slice(-3).join(' ')}`);
    const newest = newestSessionVolumes(sim);
    if (newest.volumes.join() !== cleanBackupVolumes.join())
      problems.push(`newest session holds [${newest.volumes.join(', ')}]`);
    const verify = await sim.run(
      ['verify', '--dest', sim.archiveUrl, '-u', '--json', '--session', newest.session, ...BACKED_UP],
      { env: envFor() },
    );
    if (verify.code !== 0) problems.push(`verify of ${newest.session} exit ${verify.code}`);
    const stamps = await snapshot(sim, BACKED_UP);
    for (const q of BACKED_UP) {
      const s = Number(stamps.get(q)?.properties.backup_timestamp ?? 0);
      if (
        !(s >= started - 1) ||
        stamps.get(q)?.properties.backup_timestamp === stampsBefore.get(q)?.properties.backup_timestamp
      )
        problems.push(`${q}: backup_timestamp ${s} not from the rerun`);
    }
    const deleted = [...before].filter((q) => !sim.qubesd.state.qubes.has(q));
    if (deleted.length > 0) problems.push(`deleted qubes: ${deleted.join(', ')}`);
    const left = leftovers(join(sim.dir, 'tmp'), sim);
    if (left.length > 0) problems.push(`left after the rerun: ${left.join(', ')}`);
    return { step, killed, leftBehind, rerun: again.code, problems };
  } finally {
    await sim.stop();
  }
}

const RESTORE_STEPS = [
  'restore:stopped:1',
  'restore:removed:1',
  'restore:created:1',
  'restore:received:1',
  ...[1, 2, 3, 4].map((n) => `restore:settings:${n}`),
  ...[1, 2, 3, 4].map((n) => `restore:verified:${n}`),
];
const BACKUP_STEPS = ['backup:before-send:1', 'backup:after-send:1', ...[1, 2, 3, 4].map((n) => `backup:stamped:${n}`)];

test(
  `kill -9 at every step of a restore (${RESTORE_STEPS.length}) and a backup (${BACKUP_STEPS.length}), then rerun`,
  { timeout: 900_000 },
  async () => {
    const outcomes = await pool([...RESTORE_STEPS, ...BACKUP_STEPS], 4, (step) =>
      step.startsWith('restore:') ? crashRestore(step) : crashBackup(step),
    );
    const text = table(
      [
        'killed at',
        'died there',
        'temp entries left by the kill',
        'rerun exit',
        'final state = clean run, nothing left',
      ],
      outcomes.map((o) => [
        o.step,
        o.killed ? 'yes' : 'NO',
        String(o.leftBehind),
        String(o.rerun),
        o.problems.length === 0 ? 'yes' : `NO ${o.problems.join('; ')}`,
      ]),
      100,
    );
    process.stdout.write(`\nCrash anywhere (SIGKILL at a step, then a rerun):\n${text}\n`);
    // the kill leaves the job's temp dir and lock behind: the rerun is what cleans them up
    assert.ok(
      outcomes.every((o) => o.leftBehind > 0),
      'every killed run left its temp dir (the rerun has something to clean)',
    );
    assert.deepEqual(
      outcomes.filter((o) => o.problems.length > 0).map((o) => `${o.step}: ${o.problems.join('; ')}`),
      [],
    );
  },
);

test('the crash hook is inert for other steps; a job removes temp dirs of dead jobs only', async () => {
  const sim = await buildSandbox(fromTemplate(template));
  try {
    const tmp = sim.tmpDir;
    // a dead job's dir (no such pid), a live process's dir (this test), something else
    const dead = join(tmp, 'wyng-qubes-99999999-AbC123');
    const live = join(tmp, `wyng-qubes-${process.pid}-XyZ789`);
    const other = join(tmp, 'wyng-qubes-notes');
    for (const d of [dead, live, other]) mkdirSync(join(d, 'sub'), { recursive: true });
    const r = await sim.run(backupArgs(sim), {
      env: { ...envFor(), WYNG_QUBES_TEST_CRASH_AT: 'restore:settings:1' },
      bundle: TEST_HOOKS_BUNDLE,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      readdirSync(tmp).sort(),
      [`wyng-qubes-${process.pid}-XyZ789`, 'wyng-qubes-notes'],
      "the dead job's dir is gone, the others stay; the finished job left none",
    );
    assert.ok(!existsSync(join(sim.env.WYNG_QUBES_STATE_DIR!, 'wyng-qubes.lock')), 'lock released');
  } finally {
    await sim.stop();
  }
});
