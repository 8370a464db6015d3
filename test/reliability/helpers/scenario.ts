// Shared pieces of the reliability suites: one archive built once and copied into a fresh
// simulator per case (so cases are independent and can run in parallel), the damage a restore
// has to repair, settings snapshots, a small worker pool and a plain-text table printer.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient, SocketTransport } from '../../../src/adapters/qubesd/index.ts';
import type { QubeSettings } from '../../../src/core/qubes/model.ts';
import { BUNDLE, ROOT } from '../../helpers/cli.ts';
import { comparable } from '../../helpers/settings.ts';
import type { FakeQubesdOptions } from '../../fakes/qubesd/index.ts';
import { buildSandbox, type Sandbox, type SandboxOptions } from '../../helpers/sim.ts';

export const INJECT = join(dirname(fileURLToPath(import.meta.url)), 'wyng-inject.mjs');
export const IN_PROGRESS = 'backup-restore-in-progress';

/** The qubes every suite backs up: a template (root + private), app qubes in two pools. */
export const BACKED_UP: readonly string[] = ['fedora-41', 'personal', 'vault', 'work'];

/**
 * The suites run the built program (what users run): it must exist. A bundle older than src/
 * is reported (the npm scripts build first; other work may be editing src/ meanwhile).
 */
export function requireFreshBundle(bundle: string = BUNDLE): void {
  assert.ok(existsSync(bundle), `${bundle} is missing: run \`npm run build\` first`);
  const built = statSync(bundle).mtimeMs;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  if (newest(join(ROOT, 'src')) > built)
    process.stderr.write(`warning: ${bundle} is older than src/ (run \`npm run build\`)\n`);
}

export function adminClient(sim: Sandbox, timeoutMs = 5000): AdminClient {
  return new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs }));
}

export { comparable };

export async function snapshot(sim: Sandbox, names: readonly string[]): Promise<Map<string, QubeSettings>> {
  const live = new Set(sim.qubesd.state.qubes.keys());
  return adminClient(sim).readQubeSettings(
    names.filter((n) => live.has(n)),
    { firewall: true },
  );
}

export interface TemplateArchive {
  /** a directory holding `archive/` (the Wyng archive) */
  dir: string;
  archiveDir: string;
  /** the sessions, oldest first */
  sessions: string[];
  /** settings of BACKED_UP at backup time (what a restore must bring back) */
  archived: Map<string, QubeSettings>;
  /** the data written into each volume before the backups: `qube/volume` → bytes */
  data: Map<string, Buffer>;
}

function fill(sim: Sandbox, qube: string, volume: string, seed: string): Buffer {
  const path = sim.qubesd.volumePath(qube, volume);
  assert.ok(path, `${qube} has a ${volume} volume file`);
  const buf = Buffer.alloc(256 * 1024);
  for (let i = 0; i < buf.length; i += 64) buf.write(`${seed}:${i};`, i);
  writeFileSync(path, buf);
  return buf;
}

/** Creates an archive with `sessions` backups of BACKED_UP (recognisable data in every volume). */
export async function buildTemplateArchive(sessions = 2): Promise<TemplateArchive> {
  const sim = await buildSandbox();
  try {
    const c = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
    assert.equal(c.code, 0, c.stderr);
    const data = new Map<string, Buffer>();
    for (const q of BACKED_UP) {
      data.set(`${q}/private`, fill(sim, q, 'private', `${q}-private`));
      if (q === 'fedora-41') data.set(`${q}/root`, fill(sim, q, 'root', `${q}-root`));
    }
    const ids: string[] = [];
    for (let i = 0; i < sessions; i += 1) {
      const b = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', '--json', ...BACKED_UP]);
      assert.equal(b.code, 0, b.stderr);
      ids.push((b.json!.result as { session: string }).session);
    }
    const archived = await snapshot(sim, BACKED_UP);
    const dir = mkdtempSync(join(tmpdir(), 'wq-rel-template-'));
    cpSync(sim.archiveDir, join(dir, 'archive'), { recursive: true });
    return { dir, archiveDir: join(dir, 'archive'), sessions: ids, archived, data };
  } finally {
    await sim.stop();
  }
}

/** Sandbox options of a case: the lab system as seeded, its own copy of the template archive. */
export function fromTemplate(t: TemplateArchive, qubesd: Partial<FakeQubesdOptions> = {}): SandboxOptions {
  return { qubesd, archive: { copyFrom: t.archiveDir } };
}

/** `restore` of BACKED_UP from one session, as the suites run it (JSON, no menu post step). */
export function restoreArgs(sim: Sandbox, session: string): string[] {
  // the test archive is unencrypted: approve every reach class (issue 14), as a dom0 user would
  return [
    'restore',
    '--dest',
    sim.archiveUrl,
    '-u',
    '--allow-reach=all',
    '--json',
    '--no-qubes-post',
    '--session',
    session,
    ...BACKED_UP,
  ];
}

/**
 * Everything a restore of BACKED_UP decides, as one text: the qubes that exist, and per backed-up
 * qube its settings (comparable) and whether its private volume holds the archived bytes.
 */
export async function restoreOutcome(sim: Sandbox, t: TemplateArchive): Promise<string> {
  const settings = await snapshot(sim, BACKED_UP);
  const out: Record<string, unknown> = { qubes: [...sim.qubesd.state.qubes.keys()].sort() };
  for (const q of BACKED_UP) {
    const p = sim.qubesd.volumePath(q, 'private');
    out[q] = {
      settings: comparable(settings.get(q)),
      bytes: p === undefined ? null : readFileSync(p).equals(t.data.get(`${q}/private`)!),
    };
  }
  return JSON.stringify(out);
}

/**
 * The damage a restore of BACKED_UP has to repair: `personal` removed (create), settings of
 * `work` changed, a stray tag on `vault`, a stray feature on `fedora-41`, zeroed data in `work`.
 */
export async function damage(sim: Sandbox): Promise<void> {
  const c = adminClient(sim);
  await c.removeQube('personal');
  await c.setProperty('work', 'memory', 1234);
  await c.setProperty('work', 'label', 'green');
  await c.setTag('vault', 'stray');
  await c.setFeature('fedora-41', 'stray-feature', '1');
  writeFileSync(sim.qubesd.volumePath('work', 'private')!, Buffer.alloc(256 * 1024, 7));
}

export function wyngCalls(sim: Sandbox): Array<{ argv: string[]; exitCode: number | null; signal: string | null }> {
  const log = sim.env.WYNG_FAKE_LOG!;
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { argv: string[]; exitCode: number | null; signal: string | null });
}

/** Which Wyng call an argv is (the same classification as wyng-inject.mjs). */
export function pointOf(args: readonly string[]): string {
  const has = (a: string): boolean => args.includes(a);
  if (has('send')) return 'send';
  if (has('arch-check')) return 'arch-check';
  if (has('receive')) return args.some((a) => a.startsWith('--save-to=')) ? 'receive-meta' : 'receive';
  for (const p of ['verify', 'prune', 'delete', 'arch-init', 'list']) if (has(p)) return p;
  return 'other';
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A plain-text table (header + rows), columns padded; long cells cut. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, maxCell = 60): string {
  const cut = (s: string): string => (s.length > maxCell ? `${s.slice(0, maxCell - 1)}…` : s);
  const all = [header, ...rows].map((r) => r.map((c) => cut(c.replace(/\s+/g, ' '))));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(all[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}

/** Temp entries wyng-qubes may leave: its job dirs in TMPDIR, notes temp files, the lock. */
export function leftovers(tmpDir: string, sim: Sandbox): string[] {
  const out: string[] = [];
  if (existsSync(tmpDir)) for (const e of readdirSync(tmpDir)) out.push(join(tmpDir, e));
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.wyng-qubes-\d+\.tmp$|\.tmp-\d+$/.test(e.name)) out.push(p);
    }
  };
  walk(sim.qubesDir);
  const state = sim.env.WYNG_QUBES_STATE_DIR!;
  if (existsSync(join(state, 'wyng-qubes.lock'))) out.push(join(state, 'wyng-qubes.lock'));
  return out;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
