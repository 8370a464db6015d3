// What each qube's data was when its post step (menu sync) last ran: `<stateDir>/post-steps.json`,
// `{ qube: "SESSION|stamp,stamp" }`. A rerun whose qube still holds that data (nobody started it
// since) and receives the same session skips the post step: the menus already come from that data.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.ts';

const FILE = 'post-steps.json';

function load(stateDir: string): Record<string, string> {
  try {
    const path = join(stateDir, FILE);
    if (!existsSync(path)) return {};
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {}; // unreadable: every post step runs (the safe side)
  }
}

export function readPostStamp(stateDir: string, qube: string): string | undefined {
  return load(stateDir)[qube];
}

export function writePostStamp(stateDir: string, qube: string, stamp: string): void {
  const all = { ...load(stateDir), [qube]: stamp };
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  writeFileAtomic(join(stateDir, FILE), `${JSON.stringify(all, null, 2)}\n`, { mode: 0o644 });
}
