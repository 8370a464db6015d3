import type { VolumeKind } from '../core/archive.ts';
import type { VolumeRef, WyngPool } from '../core/backup/plan.ts';
import type { Config, Env } from '../core/config.ts';
import type { ErrorRecord } from '../core/errors.ts';
import type { CommandName, CommonOptions } from '../core/options.ts';
import type { QubeClass, QubeSettings, SettingsPart } from '../core/qubes/model.ts';
import type { PoolInfo } from '../core/qubesapi/parse.ts';
import type { RestorePorts } from '../core/restore/apply.ts';
import type { LiveQube } from '../core/restore/plan.ts';
import type { Profile } from '../core/profiles.ts';
import type { RunOrigin } from '../core/reports.ts';

/** Everything a run touches of its process, injectable so tests drive the real program. */
export interface AppIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stdinIsTTY: boolean;
  /** stderr is a terminal: long runs show a progress line there (absent: no progress line) */
  stderrIsTTY?: boolean;
  env: Env;
  /** Asks a yes/no question on the terminal; only called in attended runs. */
  confirm(question: string): Promise<boolean>;
  /** Whether Wyng may use our stdin (to prompt for a passphrase): true for the real CLI. */
  wyngStdin: 'inherit' | 'ignore';
  /** Reads all of standard input (RPC requests). */
  readStdin(limitBytes: number, timeoutMs: number): Promise<Buffer>;
}

/** Wraps the job (called by withJob with the lock held): a profile's hooks.before/after. */
export type JobAround = <T>(job: () => Promise<T>) => Promise<T>;

/** One run of one use case: its arguments, options and where its human output goes. */
export interface AppContext {
  command: CommandName;
  /** Positional arguments after the command: qube names, or a sub-command's arguments. */
  args: string[];
  options: CommonOptions;
  /** Passphrase for an encrypted archive (from a profile); handed to Wyng via its environment only. */
  passphrase?: string | undefined;
  config: Config;
  io: AppIo;
  /** Human output: stdout, or stderr under --json. */
  say(text: string): void;
  /** Warnings and errors: always stderr. */
  warn(text: string): void;
  debug(text: string): void;
  /** Runs around the job inside the job lock (a profile's hooks.before/after). */
  around?: JobAround | undefined;
  /** Who started the run (`rpc` = a remote caller through dom0's qrexec service). */
  origin?: RunOrigin | undefined;
  /** The profile applied (`--profile`, or the RPC call's profile), if any. */
  profile?: Profile | undefined;
}

/** What a use case returns: the envelope's parts. */
export interface UseCaseOutcome {
  exitCode: number;
  result: unknown;
  errors: ErrorRecord[];
}

export type UseCase = (ctx: AppContext) => Promise<UseCaseOutcome>;

/** The live Qubes system as the use cases see it (adapters/qubesd/live.ts implements it). */
export interface QubesSystem {
  listQubes(): Promise<LiveQube[]>;
  includeInBackups(qube: string): Promise<boolean>;
  /** pool and vid of a qube's volume, or undefined when the qube has no such volume */
  volumeOf(qube: string, kind: VolumeKind): Promise<VolumeRef | undefined>;
  /** the pool of a qube's volume and the bytes it holds, or undefined without such a volume */
  volumeUsage(qube: string, kind: VolumeKind): Promise<{ pool: string; usage: number } | undefined>;
  /** the pool of a qube's volume as qubesd's qubes.xml said at the last readSettingsFromFiles (no call) */
  volumePoolFromFile(qube: string, kind: VolumeKind): string | undefined;
  /** free bytes of a pool (admin.pool.UsageDetails); undefined when the pool does not say */
  poolFree(pool: string): Promise<number | undefined>;
  wyngPools(): Promise<Map<string, WyngPool>>;
  adminPools(): Promise<PoolInfo[]>;
  hasTag(qube: string, tag: string): Promise<boolean>;
  setBackupTimestamp(qube: string, seconds: number): Promise<void>;
  readSettings(
    names: readonly string[],
    parts?: ReadonlyMap<string, ReadonlySet<SettingsPart>>,
  ): Promise<Map<string, QubeSettings>>;
  /** The same settings from qubesd's own files (qubes.xml, firewall.xml), no Admin API call; undefined: unreadable. */
  readSettingsFromFiles(names: readonly string[]): Map<string, QubeSettings> | undefined;
  deviceApi(live: readonly LiveQube[]): Promise<'4.2' | '4.3'>;
  globalValues(): Promise<Record<string, string>>;
  runningDispvmTemplates(live: readonly LiveQube[]): Promise<Record<string, string>>;
  /** the netvm of each running qube ('' = none) */
  runningNetvms(live: readonly LiveQube[]): Promise<Record<string, string>>;
  readNotes(qube: string, klass: QubeClass): string;
  /** The restore ports qubesd and the qube files serve; Wyng's receive and the output are the app's. */
  restorePorts(): Omit<RestorePorts, 'receive' | 'say'>;
  callSummary(): { calls: number; reads: number; writes: number };
  /** One line per Admin API call so far, then a summary line (what `--debug` prints). */
  callLog(): string[];
}
