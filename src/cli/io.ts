import type { Env } from '../core/config.ts';

/** Everything the CLI touches of its process, injectable so tests drive the real program. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stdinIsTTY: boolean;
  env: Env;
  /** Asks a yes/no question on the terminal; only called in attended runs. */
  confirm(question: string): Promise<boolean>;
  /** Whether Wyng may use our stdin (to prompt for a passphrase): true for the real CLI. */
  wyngStdin: 'inherit' | 'ignore';
  /** Reads all of standard input (RPC requests). */
  readStdin(limitBytes: number, timeoutMs: number): Promise<Buffer>;
}
