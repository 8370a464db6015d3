import { METADATA_VOLUME } from '../../core/archive.ts';

/**
 * Pure builders for every Wyng argv wyng-qubes issues (docs/design.md "Wyng contract"). The prefix is
 * `--dest=URL [--meta-dir=DIR] [-u] [--authmin=N] [--OPT ...]` exactly as wyng-util-qubes builds it.
 */
export interface WyngGlobals {
  dest?: string | undefined;
  metaDir?: string | undefined;
  unattended: boolean;
  authmin?: number | undefined;
  /** `-w OPT[=VAL]` values, passed as `--OPT[=VAL]`. */
  wyngopt: readonly string[];
  /**
   * When set, Wyng runs this command to read the passphrase (`--passcmd`): it reads a one-shot
   * FIFO in a private directory (src/adapters/wyng/secret.ts), never an environment variable.
   */
  passcmd?: string | undefined;
}

export function wyngPrefix(g: WyngGlobals): string[] {
  const out: string[] = [];
  if (g.dest !== undefined) out.push(`--dest=${g.dest}`);
  if (g.metaDir !== undefined) out.push(`--meta-dir=${g.metaDir}`);
  if (g.unattended) out.push('-u');
  if (g.authmin !== undefined) out.push(`--authmin=${g.authmin}`);
  for (const o of g.wyngopt) out.push(`--${o}`);
  // The passphrase itself never appears in argv: Wyng runs this command and reads its stdout.
  if (g.passcmd !== undefined) out.push(`--passcmd=${g.passcmd}`);
  return out;
}

export const wyngArgv = {
  create: (g: WyngGlobals): string[] => [...wyngPrefix(g), 'arch-init'],

  list: (g: WyngGlobals): string[] => [...wyngPrefix(g), '--json', 'list'],

  send: (
    g: WyngGlobals,
    o: {
      localFrom: string;
      metadataTar: string;
      autoprune?: string | undefined;
      remap?: boolean;
      dedup?: boolean;
      /** further imported volumes: [archive volume name, file] (dom0's home) */
      imports?: ReadonlyArray<readonly [string, string]>;
    },
  ): string[] => [
    ...wyngPrefix(g),
    `--local-from=${o.localFrom}`,
    '--tag=qubes',
    '--send-unchanged',
    ...(o.autoprune !== undefined ? [`--autoprune=${o.autoprune}`] : []),
    ...(o.remap === true ? ['--remap'] : []),
    ...(o.dedup === true ? ['-d'] : []),
    `--import-other-from=${METADATA_VOLUME}:|:${o.metadataTar}`,
    ...(o.imports ?? []).map(([vol, file]) => `--import-other-from=${vol}:|:${file}`),
    'send',
  ],

  archCheckNewest: (g: WyngGlobals): string[] => [...wyngPrefix(g), '--session=newest', 'arch-check'],

  /** One imported volume (dom0's home) of a session into a file. */
  receiveImport: (g: WyngGlobals, o: { saveTo: string; session: string; volume: string }): string[] => [
    ...wyngPrefix(g),
    '-u',
    '--quiet',
    `--save-to=${o.saveTo}`,
    `--session=${o.session}`,
    'receive',
    o.volume,
  ],

  receiveMetadata: (g: WyngGlobals, o: { saveTo: string; session: string }): string[] => [
    ...wyngPrefix(g),
    '-u',
    '--quiet',
    `--save-to=${o.saveTo}`,
    `--session=${o.session}`,
    'receive',
    METADATA_VOLUME,
  ],

  receive: (
    g: WyngGlobals,
    o: { localFrom: string; session: string; useSnapshot: boolean; verbose: boolean },
  ): string[] => [
    ...wyngPrefix(g),
    ...(o.verbose ? ['--verbose'] : []),
    '--force',
    '--sparse-write',
    `--local-from=${o.localFrom}`,
    `--session=${o.session}`,
    ...(o.useSnapshot ? ['--use-snapshot'] : []),
    'receive',
  ],

  verify: (
    g: WyngGlobals,
    o: { volsFrom: string; session: string; volumes: readonly string[]; verbose: boolean },
  ): string[] => [
    ...wyngPrefix(g),
    ...(o.verbose ? ['--verbose'] : []),
    `--vols-from=${o.volsFrom}`,
    `--session=${o.session}`,
    'verify',
    ...o.volumes,
  ],

  prune: (
    g: WyngGlobals,
    o: {
      session?: string | undefined;
      all: boolean;
      allBefore: boolean;
      autoprune?: string | undefined;
      volumes: readonly string[];
    },
  ): string[] => [
    ...wyngPrefix(g),
    ...(o.session !== undefined ? [`--session=${o.session}`] : []),
    ...(o.all ? ['--all'] : []),
    ...(o.allBefore ? ['--all-before'] : []),
    ...(o.autoprune !== undefined ? [`--autoprune=${o.autoprune}`] : []),
    'prune',
    ...o.volumes,
  ],

  delete: (g: WyngGlobals, o: { volume: string; verbose: boolean }): string[] => [
    ...wyngPrefix(g),
    '-u',
    o.verbose ? '--verbose' : '--quiet',
    'delete',
    o.volume,
  ],
};
