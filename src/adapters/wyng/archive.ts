import type { Env } from '../../core/config.ts';
import { buildArchiveModel, parseWyngListOutput, type ArchiveModel, type WyngList } from '../../core/archive.ts';
import { wyngArgv, type WyngGlobals } from '../../core/wyng-argv.ts';
import { wyngFailure } from './errors.ts';
import { runWyngProcess, type WyngProcessResult } from './process.ts';
import { deliverPassphrase } from './secret.ts';

/** Stands for the per-run FIFO command in argv built from `globals`; raw() replaces it. */
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
}

/** One Wyng archive as wyng-qubes drives it: every call gets the same prefix options. */
export class WyngArchive {
  readonly globals: WyngGlobals;
  readonly calls: WyngProcessResult[] = [];
  /** The archive as the last `list()` showed it (for checks before a receive). */
  lastModel: ArchiveModel | undefined;

  constructor(private readonly opts: WyngArchiveOptions) {
    this.globals = { ...opts.globals, passcmd: opts.passphrase !== undefined ? PASSCMD_MARK : undefined };
  }

  /**
   * Runs Wyng; never throws for Wyng's exit status. `passthrough` hands Wyng's output to the
   * human output sink as it comes; `onStdout` sees Wyng's stdout as it comes either way.
   */
  async raw(
    argv: string[],
    passthrough: boolean,
    onStdout?: (text: string) => void,
    limits: { maxFileBytes?: number } = {},
  ): Promise<WyngProcessResult> {
    // a one-shot FIFO per run: the passphrase is in no environment and no argv
    const secret =
      this.opts.passphrase !== undefined && argv.includes(`--passcmd=${PASSCMD_MARK}`)
        ? deliverPassphrase(this.opts.env, this.opts.passphrase)
        : undefined;
    if (secret !== undefined)
      argv = argv.map((a) => (a === `--passcmd=${PASSCMD_MARK}` ? `--passcmd=${secret.command}` : a));
    this.opts.debug(`wyng ${argv.join(' ')}`);
    const sink = this.opts.passthrough;
    const result = await runWyngProcess(this.opts.wyngPath, argv, {
      env: this.opts.env,
      stdin: this.opts.stdin,
      fileSizeLimit: limits.maxFileBytes,
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
  async check(
    argv: string[],
    what: string,
    passthrough: boolean,
    limits: { maxFileBytes?: number } = {},
  ): Promise<WyngProcessResult> {
    const result = await this.raw(argv, passthrough, undefined, limits);
    if (result.exitCode !== 0) throw wyngFailure(result, what);
    return result;
  }

  async list(): Promise<{ list: WyngList; model: ArchiveModel }> {
    const result = await this.check(wyngArgv.list(this.globals), 'list', false);
    const list = parseWyngListOutput(result.stdout);
    const model = buildArchiveModel(list);
    this.lastModel = model;
    return { list, model };
  }
}
