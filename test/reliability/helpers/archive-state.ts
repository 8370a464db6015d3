// Reads a simulator's archive through the fake Wyng itself (`--json list`), as the product
// does, so suites can check what an operation left in the archive.
import { spawnSync } from 'node:child_process';
import { buildArchiveModel, parseWyngListOutput, type ArchiveModel } from '../../../src/core/archive.ts';
import { FAKE_WYNG } from '../../helpers/cli.ts';
import type { Sandbox } from '../../helpers/sim.ts';

export function archiveModel(sim: Sandbox): ArchiveModel {
  const r = spawnSync(FAKE_WYNG, [`--dest=${sim.archiveUrl}`, '-u', '--json', 'list'], {
    env: { PATH: process.env.PATH, WYNG_FAKE_LOCK: `${sim.env.WYNG_FAKE_LOCK}.reader` },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`fake wyng list failed (${r.status}): ${r.stderr}`);
  return buildArchiveModel(parseWyngListOutput(r.stdout));
}

/** Every session of every volume: `volume@session`, sorted (a fingerprint of the archive). */
export function archiveFingerprint(sim: Sandbox): string[] {
  const m = archiveModel(sim);
  return Object.entries(m.volumeSessions)
    .flatMap(([v, ss]) => ss.map((s) => `${v}@${s}`))
    .sort();
}

/** A session name for a time, as Wyng makes it (local time, by the second). */
function sessionName(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  const day = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`;
  return `${day}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Waits until a send started now gets a session name newer than every session in the archive.
 * Wyng names a session by the second and crashes ("Duplicate session name") on a send in the
 * second of an existing session; tests that need a new session wait for the next second.
 */
export async function waitForNewSessionSecond(sim: Sandbox): Promise<void> {
  const newest = Object.keys(archiveModel(sim).sessionVolumes).sort().at(-1) ?? '';
  while (sessionName(Date.now()) <= newest) await new Promise((r) => setTimeout(r, 50));
}
