import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../../core/config.ts';
import {
  buildArchiveModel,
  parseWyngListOutput,
  type ArchiveModel,
  type LocalFromMap,
  type WyngList,
} from '../../core/archive.ts';
import { WqError } from '../../core/errors.ts';
import { wyngArgv, type WyngGlobals } from './argv.ts';
import { readErrorFile, removeErrorFile, softFailures, unannouncedVolumes, wyngFailure } from './errors.ts';
import {
  parsePruneCounts,
  receiveProgressVolume,
  sendProgressVolume,
  sentMegabytes,
  sessionFromSendOutput,
  wyngPercent,
} from './output.ts';
import { runWyngProcess, type WyngProcessResult } from './process.ts';
import { deliverPassphrase } from './secret.ts';

/** Stands for the per-run FIFO command in argv built from `globals`; run() replaces it. */
const PASSCMD_MARK = 'wyng-qubes-passphrase-fifo';

export interface WyngArchiveOptions {
  wyngPath: string;
  globals: Omit<WyngGlobals, 'passcmd'>;
  env: Env;
  passphrase?: string | undefined;
  stdin: 'inherit' | 'ignore';
  /** Where Wyng's own output goes when it is passed through (human output sink). */
  passthrough: (text: string) => void;
  /** Where Wyng's stderr (errors, warnings, prompts) goes when passed through; default: `passthrough`. */
  passthroughStderr?: ((text: string) => void) | undefined;
  debug: (text: string) => void;
  /**
   * How long a run waits while another program holds Wyng's machine-wide lock (Wyng then exits 1
   * at once, "I/O ERROR obtaining lock on PATH", having done nothing): the run is started again
   * every second until then. 0: not at all.
   */
  lockWaitMs?: number | undefined;
  /** For tests of the wait: the pause between attempts. */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/** Wyng's own refusal when another Wyng holds its lock (recorded: err-lock-*-archive). */
const WYNG_LOCK_BUSY = /^I\/O ERROR obtaining lock on /m;

/** How one Wyng run is shown and read. */
export interface RunOptions {
  /** What the run does, for error messages (`send`, `arch-check`, …). */
  what: string;
  /** Hand Wyng's output to the human output sink as it comes (default: no). */
  passthrough?: boolean;
  /** Sees Wyng's stdout as it comes, passed through or not. */
  onStdout?: ((text: string) => void) | undefined;
  /** RLIMIT_FSIZE for Wyng (a receive of untrusted data into a file). */
  maxFileBytes?: number | undefined;
}

/** What a send stored, as Wyng reported it (the archive re-read afterwards is the truth: settleSend). */
export interface SendReport {
  /** Wyng's exit code (exit 2 came with an error file; any other failure throws). */
  exitCode: number;
  /** The session id the send printed. */
  printedSession: string | undefined;
  /** Volumes of Wyng's `.error` file (exit 2). */
  failedVolumes: string[];
  /** Paths of `Warning: Local 'P' does not exist!` (exit 0 all the same). */
  missingLocal: string[];
  /** MiB sent over all pools, when Wyng said. */
  sentMegabytes: number | undefined;
}

export interface SendRequest {
  /** The job's private directory for Wyng's input files. */
  workDir: string;
  localFrom: LocalFromMap;
  metadataTar: string;
  autoprune?: string | undefined;
  remap: boolean;
  dedup: boolean;
  /** Wyng's progress to the human output sink. */
  passthrough: boolean;
  /** Further imported volumes: [archive volume name, file]. */
  imports?: ReadonlyArray<readonly [string, string]> | undefined;
  /** Called with each volume Wyng starts sending. */
  onVolume?: ((name: string) => void) | undefined;
  /** Called with Wyng's percent of the current volume, where it prints one. */
  onPercent?: ((percent: number) => void) | undefined;
}

/** Volumes a receive or verify did not restore or verify (archive names; local names as Wyng listed them). */
export interface VolumesReport {
  failed: string[];
}

/** Outcome of deleting one archive volume. */
export type DeleteReport = { deleted: true } | { deleted: false; reason: string };

/**
 * One Wyng archive as wyng-qubes drives it: every call gets the same prefix options. Each
 * operation returns a typed report; this class alone knows Wyng's argv, how its output reads,
 * what exit 2 and its `.error` file mean and which exit-0 runs still failed (docs/design.md "Wyng contract").
 */
export class WyngArchive {
  readonly globals: WyngGlobals;
  readonly calls: WyngProcessResult[] = [];
  /** The archive as the last `list()` showed it (for checks before a receive). */
  lastModel: ArchiveModel | undefined;

  constructor(private readonly opts: WyngArchiveOptions) {
    this.globals = { ...opts.globals, passcmd: opts.passphrase !== undefined ? PASSCMD_MARK : undefined };
  }

  /**
   * Runs Wyng; never throws for Wyng's exit status. While another program holds Wyng's lock, the
   * run is started again (lockWaitMs): Wyng refused before doing anything, so a retry is safe.
   */
  private async run(argv: string[], options: Omit<RunOptions, 'what'>): Promise<WyngProcessResult> {
    const deadline = Date.now() + (this.opts.lockWaitMs ?? 0);
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (;;) {
      const result = await this.runOnce(argv, options);
      if (result.exitCode !== 1 || !WYNG_LOCK_BUSY.test(result.stderr) || Date.now() >= deadline) return result;
      this.opts.debug('another Wyng holds its lock: trying again in a second');
      await sleep(1000);
    }
  }

  private async runOnce(argv: string[], options: Omit<RunOptions, 'what'>): Promise<WyngProcessResult> {
    // a one-shot FIFO per run: the passphrase is in no environment and no argv
    const secret =
      this.opts.passphrase !== undefined && argv.includes(`--passcmd=${PASSCMD_MARK}`)
        ? deliverPassphrase(this.opts.env, this.opts.passphrase)
        : undefined;
    if (secret !== undefined)
      argv = argv.map((a) => (a === `--passcmd=${PASSCMD_MARK}` ? `--passcmd=${secret.command}` : a));
    this.opts.debug(`wyng ${argv.join(' ')}`);
    const sink = this.opts.passthrough;
    const passthrough = options.passthrough === true;
    const onStdout = options.onStdout;
    const result = await runWyngProcess(this.opts.wyngPath, argv, {
      env: this.opts.env,
      stdin: this.opts.stdin,
      fileSizeLimit: options.maxFileBytes,
      onStdout:
        passthrough || onStdout !== undefined
          ? (text) => {
              if (passthrough) sink(text);
              onStdout?.(text);
            }
          : undefined,
      onStderr: passthrough ? (this.opts.passthroughStderr ?? sink) : undefined,
    }).finally(() => secret?.dispose());
    this.calls.push(result);
    this.opts.debug(`wyng exit ${result.exitCode ?? result.signal ?? '?'} after ${result.durationMs} ms`);
    return result;
  }

  /** Runs Wyng and throws our mapped error unless it exits 0. */
  async check(argv: string[], options: RunOptions): Promise<WyngProcessResult> {
    const result = await this.run(argv, options);
    if (result.exitCode !== 0) throw wyngFailure(result, options.what);
    return result;
  }

  async list(): Promise<{ list: WyngList; model: ArchiveModel; stdout: string }> {
    const result = await this.check(wyngArgv.list(this.globals), { what: 'list' });
    return { ...this.adoptList(result.stdout), stdout: result.stdout };
  }

  /**
   * A list output Wyng gave earlier (a kept plan, adapters/plan-cache.ts), read through the same
   * parser as a live one; it becomes `lastModel`. No Wyng process runs.
   */
  adoptList(stdout: string): { list: WyngList; model: ArchiveModel } {
    const list = parseWyngListOutput(stdout);
    const model = buildArchiveModel(list);
    this.lastModel = model;
    return { list, model };
  }

  /** `arch-init` at --dest. */
  async create(): Promise<void> {
    await this.check(wyngArgv.create(this.globals), { what: 'arch-init', passthrough: true });
  }

  /** `arch-check` of the newest session. */
  async checkNewest(options: { passthrough: boolean }): Promise<void> {
    await this.check(wyngArgv.archCheckNewest(this.globals), { what: 'arch-check', ...options });
  }

  /** The volumes and the Qubes metadata in one send. */
  async send(request: SendRequest): Promise<SendReport> {
    const localFrom = join(request.workDir, 'volumes.json');
    writeFileSync(localFrom, JSON.stringify(request.localFrom));
    removeErrorFile(localFrom);
    const argv = wyngArgv.send(this.globals, {
      localFrom,
      metadataTar: request.metadataTar,
      autoprune: request.autoprune,
      remap: request.remap,
      dedup: request.dedup,
      ...(request.imports !== undefined ? { imports: request.imports } : {}),
    });
    const onStdout = progressWatcher(sendProgressVolume, request.onVolume, request.onPercent);
    const result = await this.run(argv, { passthrough: request.passthrough, onStdout });
    const failedVolumes = errorFileVolumes(result, localFrom, 'send');
    return {
      exitCode: result.exitCode ?? 1,
      printedSession: sessionFromSendOutput(result.stdout),
      failedVolumes,
      missingLocal: softFailures(result).missingLocal,
      sentMegabytes: sentMegabytes(result.stdout),
    };
  }

  /** Receives volumes of a session into their local names; `volumes`: pool path → [archive, local]. */
  async receive(request: {
    workDir: string;
    session: string;
    volumes: ReadonlyMap<string, ReadonlyArray<readonly [string, string]>>;
    useSnapshot: boolean;
    verbose: boolean;
    /** called as Wyng starts each volume (`--progress=json`) */
    onVolume?: ((name: string) => void) | undefined;
    /** called with Wyng's percent of the current volume, where it prints one */
    onPercent?: ((percent: number) => void) | undefined;
    /** pass Wyng's output through (default true) */
    passthrough?: boolean;
  }): Promise<VolumesReport> {
    const localFrom = join(request.workDir, 'restore-volumes.json');
    writeFileSync(localFrom, JSON.stringify(Object.fromEntries(request.volumes)), { mode: 0o600 });
    removeErrorFile(localFrom);
    const argv = wyngArgv.receive(this.globals, {
      localFrom,
      session: request.session,
      useSnapshot: request.useSnapshot,
      verbose: request.verbose,
    });
    const result = await this.run(argv, {
      passthrough: request.passthrough ?? true,
      onStdout: progressWatcher(receiveProgressVolume, request.onVolume, request.onPercent),
    });
    const failed = new Set(errorFileVolumes(result, localFrom, 'receive'));
    for (const v of softFailures(result).notFound) failed.add(v);
    const archived = [...request.volumes.values()].flat().map(([arch]) => arch);
    for (const v of unannouncedVolumes(result, archived)) failed.add(v);
    // a local name in the error file maps back to its archive name
    for (const list of request.volumes.values())
      for (const [arch, local] of list) if (failed.has(local)) failed.add(arch);
    return { failed: [...failed] };
  }

  /** Verifies volumes of a session. */
  async verify(request: {
    workDir: string;
    session: string;
    volumes: readonly string[];
    verbose: boolean;
    onVolume?: ((name: string) => void) | undefined;
    onPercent?: ((percent: number) => void) | undefined;
    passthrough?: boolean;
  }): Promise<VolumesReport> {
    const volsFrom = join(request.workDir, 'verify-vols.json');
    writeFileSync(volsFrom, JSON.stringify({ null: request.volumes.map((v) => [v, '']) }));
    removeErrorFile(volsFrom);
    const argv = wyngArgv.verify(this.globals, {
      volsFrom,
      session: request.session,
      volumes: request.volumes,
      verbose: request.verbose,
    });
    const result = await this.run(argv, {
      passthrough: request.passthrough ?? true,
      onStdout: progressWatcher(receiveProgressVolume, request.onVolume, request.onPercent),
    });
    const failed = new Set(errorFileVolumes(result, volsFrom, 'verify'));
    for (const v of softFailures(result).notFound) failed.add(v);
    return { failed: [...failed] };
  }

  /** Prunes sessions; returns the number of sessions removed per volume. */
  async prune(request: {
    session?: string | undefined;
    all: boolean;
    allBefore: boolean;
    autoprune?: string | undefined;
    volumes: readonly string[];
  }): Promise<{ removed: Record<string, number>; cancelled: boolean }> {
    const result = await this.check(wyngArgv.prune(this.globals, request), { what: 'prune', passthrough: true });
    const notFound = softFailures(result).notFound;
    if (notFound.length > 0)
      throw new WqError('wyng', `Wyng did not find volumes: ${notFound.join(', ')}.`, { wyngCode: 1 });
    const removed = parsePruneCounts(result.stdout);
    // Wyng asks "Are you sure? [y/N]" in attended runs; any answer but yes ends it with exit 0 and no volume line
    const cancelled = !this.globals.unattended && Object.keys(removed).length === 0 && !/^\S+ -/m.test(result.stdout);
    return { removed, cancelled };
  }

  /** Deletes one archive volume (every session of it). */
  async deleteVolume(request: { volume: string; verbose: boolean }): Promise<DeleteReport> {
    const result = await this.run(wyngArgv.delete(this.globals, request), { passthrough: true });
    if (result.exitCode === 0 && softFailures(result).notFound.length === 0) return { deleted: true };
    return { deleted: false, reason: result.exitCode === 0 ? 'not found' : `exit ${result.exitCode ?? result.signal}` };
  }
}

/**
 * The volumes of an exit-2 run's `.error` file; [] after exit 0. Any other failure, or exit 2
 * without an error file (argparse usage), throws the mapped error.
 */
function errorFileVolumes(result: WyngProcessResult, jsonPath: string, what: string): string[] {
  if (result.exitCode === 0) return [];
  const listed = result.exitCode === 2 ? readErrorFile(jsonPath) : undefined;
  if (listed === undefined) throw wyngFailure(result, what);
  return listed;
}

/**
 * Splits Wyng's stdout into lines (progress bars end in CR) and reports each volume it starts
 * (`volumeOf`: the send or the receive/verify form) and each percent of the current volume.
 */
function progressWatcher(
  volumeOf: (line: string) => string | undefined,
  onVolume: ((name: string) => void) | undefined,
  onPercent: ((percent: number) => void) | undefined,
): ((text: string) => void) | undefined {
  if (onVolume === undefined && onPercent === undefined) return undefined;
  let pending = '';
  return (text) => {
    const lines = (pending + text).split(/\r|\n/);
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const name = volumeOf(line);
      if (name !== undefined) onVolume?.(name);
      else if (onPercent !== undefined) {
        const p = wyngPercent(line);
        if (p !== undefined) onPercent(p);
      }
    }
  };
}
