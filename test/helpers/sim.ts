// The simulator the e2e tests, the demo and the benchmarks run against: a fake qubesd seeded
// from a real qubes.xml (volumes as real files below a temp root) plus the fake Wyng, and the
// environment that points wyng-qubes at them. Nothing in src/ knows about it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeQubesd, type FakeQubesd, type FakeQubesdOptions } from '../fakes/qubesd/index.ts';
import { FAKE_WYNG, FAKE_WYNG_LOOSE, ROOT, runBundle, type CliRun } from './cli.ts';

/**
 * A realistic system recorded from the real qubesd 4.4 lab (test/data/qubesd/qubes.xml):
 * a template, sys-net with a PCI device, sys-firewall, a disposable template and a named
 * disposable, app qubes in two pools, a standalone, a clone.
 */
export const SCENARIO_QUBES_XML = join(ROOT, 'test', 'fixtures', 'qubes-xml', 'lab-scenario.xml');

export interface Simulator {
  dir: string;
  qubesd: FakeQubesd;
  /** qubesd's base dir (what /var/lib/qubes is on a real system) */
  qubesDir: string;
  archiveUrl: string;
  env: Record<string, string>;
  /** runs the built bundle (or `bundle`) with the simulator's environment */
  run(
    args: string[],
    opts?: { stdin?: string; env?: Record<string, string>; bundle?: string },
  ): Promise<CliRun & { json?: JsonEnvelope }>;
  /** writes the fake's current state to qubes.xml in the Qubes dir (the fake also does so after each change) */
  syncQubesXml(): void;
  stop(): Promise<void>;
}

export interface JsonEnvelope {
  ok: boolean;
  exitCode: number;
  command: string;
  result: unknown;
  errors: Array<{ qube?: string; kind: string; message: string }>;
}

/**
 * The fake qubesd's API generation for suites that run in both modes: WQ_E2E_QUBESD_API=4.2 or
 * 4.3 (default). CI runs the restore e2e files that touch devices and settings once per mode.
 */
export function e2eQubesdApi(): '4.2' | '4.3' {
  const v = process.env.WQ_E2E_QUBESD_API ?? '4.3';
  if (v !== '4.2' && v !== '4.3') throw new Error(`WQ_E2E_QUBESD_API must be 4.2 or 4.3, not '${v}'`);
  return v;
}

export async function startSimulator(opts: Partial<FakeQubesdOptions> & { keep?: boolean } = {}): Promise<Simulator> {
  const dir = mkdtempSync(join(tmpdir(), 'wq-sim-'));
  const root = join(dir, 'root');
  mkdirSync(root, { recursive: true });
  const qubesd = await startFakeQubesd({
    qubesXml: SCENARIO_QUBES_XML,
    socketPath: join(dir, 'qubesd.sock'),
    volumeFileSize: 256 * 1024,
    api: e2eQubesdApi(),
    ...opts,
    poolsDir: root,
  });
  const qubesDir = join(root, 'var', 'lib', 'qubes');
  mkdirSync(qubesDir, { recursive: true });
  const env: Record<string, string> = {
    WYNG_QUBES_QUBESD_SOCKET: qubesd.socketPath,
    WYNG_QUBES_QUBES_DIR: qubesDir,
    WYNG_QUBES_STATE_DIR: join(dir, 'state'),
    WYNG_QUBES_CONFIG_DIR: join(dir, 'etc'),
    WYNG_QUBES_LOCK_DIR: dir,
    WYNG_QUBES_WYNG: FAKE_WYNG,
    WYNG_FAKE_LOCK: join(dir, 'wyng.lock'),
    WYNG_FAKE_LOG: join(dir, 'wyng-calls.jsonl'),
    ...FAKE_WYNG_LOOSE,
  };
  const sim: Simulator = {
    dir,
    qubesd,
    qubesDir,
    archiveUrl: `file:${join(dir, 'archive')}`,
    env,
    syncQubesXml: () => writeFileSync(join(qubesDir, 'qubes.xml'), qubesd.dumpQubesXml()),
    async run(args, runOpts = {}) {
      const r = await runBundle(args, {
        env: { ...env, ...runOpts.env },
        ...(runOpts.stdin !== undefined ? { stdin: runOpts.stdin } : {}),
        ...(runOpts.bundle !== undefined ? { bundle: runOpts.bundle } : {}),
      });
      let json: JsonEnvelope | undefined;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(r.stdout) as JsonEnvelope;
        } catch {
          json = undefined;
        }
      }
      return { ...r, ...(json ? { json } : {}) };
    },
    async stop() {
      await qubesd.stop();
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  return sim;
}
