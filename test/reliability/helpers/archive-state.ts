// Reads a simulator's archive through the fake Wyng itself (`--json list`), as the product
// does, so suites can check what an operation left in the archive.
import { spawnSync } from 'node:child_process';
import { buildArchiveModel, parseWyngListOutput, type ArchiveModel } from '../../../src/core/archive.ts';
import { FAKE_WYNG } from '../../helpers/cli.ts';
import type { Simulator } from '../../helpers/sim.ts';

export function archiveModel(sim: Simulator): ArchiveModel {
  const r = spawnSync(FAKE_WYNG, [`--dest=${sim.archiveUrl}`, '-u', '--json', 'list'], {
    env: { PATH: process.env.PATH, WYNG_FAKE_LOCK: `${sim.env.WYNG_FAKE_LOCK}.reader` },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`fake wyng list failed (${r.status}): ${r.stderr}`);
  return buildArchiveModel(parseWyngListOutput(r.stdout));
}

/** Every session of every volume: `volume@session`, sorted (a fingerprint of the archive). */
export function archiveFingerprint(sim: Simulator): string[] {
  const m = archiveModel(sim);
  return Object.entries(m.volumeSessions)
    .flatMap(([v, ss]) => ss.map((s) => `${v}@${s}`))
    .sort();
}
