import type { Env } from '../core/config.ts';

/** How the RPC entry point runs; from the environment (tests and sandboxes change these). */
export interface RpcSettings {
  /**
   * How the privileged part runs (`WYNG_QUBES_RPC_SUDO`): `auto` (default) through sudo unless
   * already root; `0` in-process; `1` always through sudo.
   */
  sudo: 'auto' | 'never' | 'always';
  /** The sudo program (`WYNG_QUBES_SUDO`, default /usr/bin/sudo). */
  sudoProgram: string;
  /** The program the sudoers rule names (`WYNG_QUBES_RPC_SELF`, default /usr/bin/wyng-qubes). */
  self: string;
  /** Deadline for the whole request on stdin (`WYNG_QUBES_RPC_STDIN_TIMEOUT_MS`, default 5 s; ≤ 64 KiB). */
  stdinTimeoutMs: number;
  /** How many RPC processes may run at once (`WYNG_QUBES_RPC_SLOTS`, default 4); beyond: `busy` at once. */
  slots: number;
}

export function rpcSettings(env: Env): RpcSettings {
  const timeout = Number(env.WYNG_QUBES_RPC_STDIN_TIMEOUT_MS);
  const slots = Number(env.WYNG_QUBES_RPC_SLOTS);
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  return {
    sudo: env.WYNG_QUBES_RPC_SUDO === '0' ? 'never' : env.WYNG_QUBES_RPC_SUDO === '1' ? 'always' : 'auto',
    sudoProgram: nonEmpty(env.WYNG_QUBES_SUDO) ?? '/usr/bin/sudo',
    self: nonEmpty(env.WYNG_QUBES_RPC_SELF) ?? '/usr/bin/wyng-qubes',
    stdinTimeoutMs: Number.isInteger(timeout) && timeout > 0 ? timeout : 5_000,
    slots: Number.isInteger(slots) && slots > 0 && slots <= 64 ? slots : 4,
  };
}
