/**
 * Every system location wyng-qubes touches, resolved from the environment in one place.
 * Defaults are Qubes' own paths; tests and sandboxes point them elsewhere.
 */
export interface Config {
  /** Explicit Wyng path (env WYNG_QUBES_WYNG); else beside the bundle, else PATH. */
  wyng: string | undefined;
  qubesdSocket: string;
  qubesDir: string;
  configDir: string;
  stateDir: string;
  qrexecClient: string;
  /** sudo, for the restore post steps run as the dom0 user (env WYNG_QUBES_SUDO). */
  sudo: string;
  /** Where the job's kernel lock file lives (env WYNG_QUBES_LOCK_DIR, default /run/lock). */
  lockDir: string;
  /** How long a second job waits for the lock before "busy" (ms). */
  lockTimeoutMs: number;
  /** Bound on one Admin API call (ms). */
  qubesdTimeoutMs: number;
  /** Where dom0's users' homes are (env WYNG_QUBES_HOME_ROOT; default /home). */
  homeRoot: string;
  /** The group database, for the Qubes GUI user (env WYNG_QUBES_GROUP_FILE; default /etc/group). */
  groupFile: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

function positiveInt(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

export function resolveConfig(env: Env): Config {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  return {
    wyng: nonEmpty(env.WYNG_QUBES_WYNG),
    qubesdSocket: nonEmpty(env.WYNG_QUBES_QUBESD_SOCKET) ?? '/var/run/qubesd.sock',
    qubesDir: nonEmpty(env.WYNG_QUBES_QUBES_DIR) ?? '/var/lib/qubes',
    configDir: nonEmpty(env.WYNG_QUBES_CONFIG_DIR) ?? '/etc/wyng-qubes',
    stateDir: nonEmpty(env.WYNG_QUBES_STATE_DIR) ?? '/var/lib/wyng-qubes',
    qrexecClient: nonEmpty(env.WYNG_QUBES_QREXEC_CLIENT) ?? 'qrexec-client-vm',
    sudo: nonEmpty(env.WYNG_QUBES_SUDO) ?? '/usr/bin/sudo',
    lockDir: nonEmpty(env.WYNG_QUBES_LOCK_DIR) ?? '/run/lock',
    lockTimeoutMs: positiveInt(env.WYNG_QUBES_LOCK_TIMEOUT_MS, 30_000),
    qubesdTimeoutMs: positiveInt(env.WYNG_QUBES_QUBESD_TIMEOUT_MS, 120_000),
    homeRoot: nonEmpty(env.WYNG_QUBES_HOME_ROOT) ?? '/home',
    groupFile: nonEmpty(env.WYNG_QUBES_GROUP_FILE) ?? '/etc/group',
  };
}
