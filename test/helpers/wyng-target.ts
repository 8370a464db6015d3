import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FAKE_WYNG, FAKE_WYNG_LOOSE } from './cli.ts';

/**
 * The Wyng the contract tests run against: the real one when WYNG_REAL (path of a wyng
 * script) and WYNG_REAL_POOL (a writable Btrfs subvolume root) are set, else the fake Wyng
 * with a temp pool dir.
 */
export interface WyngTarget {
  wyng: string;
  real: boolean;
  /** A fresh directory in the pool for this test's volumes. */
  poolDir: string;
  /** A fresh scratch dir (archives, qubes dir, JSON files). */
  scratch: string;
  env: Record<string, string | undefined>;
}

/** Which Wyng the contract tests run against: 'real' when WYNG_REAL and WYNG_REAL_POOL are set. */
export function wyngTargetKind(): 'real' | 'fake' {
  return process.env.WYNG_REAL !== undefined && process.env.WYNG_REAL_POOL !== undefined ? 'real' : 'fake';
}

export function wyngTarget(label: string): WyngTarget {
  const real = wyngTargetKind() === 'real';
  const scratch = mkdtempSync(join(process.env.WYNG_REAL_SCRATCH ?? tmpdir(), `wq-${label}-`));
  const poolDir = real ? process.env.WYNG_REAL_POOL! : join(scratch, 'pool');
  mkdirSync(poolDir, { recursive: true });
  const env: Record<string, string | undefined> = {
    PATH: real ? `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}` : process.env.PATH,
    HOME: process.env.HOME,
    TZ: 'UTC',
    WYNG_QUBES_STATE_DIR: join(scratch, 'state'),
    WYNG_FAKE_LOCK: join(scratch, 'wyng.lock'),
    ...(real ? {} : FAKE_WYNG_LOOSE),
  };
  return { wyng: real ? process.env.WYNG_REAL! : FAKE_WYNG, real, poolDir, scratch, env };
}

/** Writes a sparse-ish volume file with some random extents; returns its bytes. */
export function writeVolume(path: string, size: number, extents: number[]): Buffer {
  mkdirSync(join(path, '..'), { recursive: true });
  const buf = Buffer.alloc(size);
  for (const off of extents) randomBytes(Math.min(65536, size - off)).copy(buf, off);
  writeFileSync(path, buf);
  return buf;
}
