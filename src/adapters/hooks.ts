/**
 * The programs a profile runs around a job: `hooks.before` / `hooks.after` (e.g. mount and
 * unmount the backup disk) and the notifiers `notify.command` (gets the JSON report on stdin)
 * and `notify.desktop` (notify-send on the dom0 user's desktop). All run without a shell,
 * with a small fixed environment, bounded in time and output.
 *
 * Environment (tests point these at stubs):
 *   WYNG_QUBES_NOTIFY_SEND    notify-send program (default: notify-send on PATH)
 *   WYNG_QUBES_RUNUSER        runuser program, to reach the desktop user from root (default runuser)
 *   WYNG_QUBES_DESKTOP_USER   the dom0 desktop user (default: the first member of group "qubes")
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { execa } from 'execa';
import type { Env } from '../core/config.ts';
import type { HookRecord } from './reports.ts';

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const OUTPUT_TAIL = 2000;
const MAX_OUTPUT = 1024 * 1024;
export const DEFAULT_HOOK_TIMEOUT_S = 600;
export const NOTIFY_TIMEOUT_MS = 60_000;

function tail(text: string): string {
  const clean = text.replace(/[^\x09\x0a\x20-\x7e\u00a0-\uffff]/g, '?');
  return clean.length > OUTPUT_TAIL ? `…${clean.slice(-OUTPUT_TAIL)}` : clean;
}

/** Runs one hook command; never throws. `vars` are added to its environment. */
export async function runHook(
  argv: readonly string[],
  timeoutMs: number,
  vars: Record<string, string>,
): Promise<HookRecord> {
  const [program, ...args] = argv as [string, ...string[]];
  const started = Date.now();
  const r = await execa(program, args, {
    reject: false,
    shell: false,
    stdin: 'ignore',
    all: true,
    timeout: timeoutMs,
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 5000,
    maxBuffer: MAX_OUTPUT,
    extendEnv: false,
    env: { PATH: SAFE_PATH, LANG: 'C.UTF-8', ...vars },
    encoding: 'utf8',
  });
  const spawnFailed = r.exitCode === undefined && !r.timedOut && r.signal === undefined;
  const output = spawnFailed
    ? r.cause instanceof Error
      ? r.cause.message
      : (r.shortMessage ?? 'could not start')
    : String(r.all ?? '');
  return {
    argv0: program,
    ok: !r.failed && r.exitCode === 0,
    exitCode: r.exitCode ?? null,
    timedOut: r.timedOut,
    durationMs: Date.now() - started,
    output: tail(output),
  };
}

/** One line about a hook for messages: "exit 3", "timed out after 10 s", "could not start: …". */
export function describeHook(h: HookRecord, timeoutMs: number): string {
  if (h.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (h.exitCode === null) return `could not start${h.output !== '' ? `: ${h.output}` : ''}`;
  const last = h.output.trim().split('\n').at(-1);
  return `exit ${h.exitCode}${last !== undefined && last !== '' ? `: ${last}` : ''}`;
}

/** `notify.command`: the report as JSON on stdin. Returns a problem text, or undefined. */
export async function runNotifyCommand(argv: readonly string[], reportJson: string): Promise<string | undefined> {
  const [program, ...args] = argv as [string, ...string[]];
  const r = await execa(program, args, {
    reject: false,
    shell: false,
    input: reportJson,
    all: true,
    timeout: NOTIFY_TIMEOUT_MS,
    maxBuffer: MAX_OUTPUT,
    extendEnv: false,
    env: { PATH: SAFE_PATH, LANG: 'C.UTF-8' },
    encoding: 'utf8',
  });
  if (!r.failed && r.exitCode === 0) return undefined;
  if (r.timedOut) return `timed out after ${NOTIFY_TIMEOUT_MS / 1000} s`;
  if (r.exitCode === undefined)
    return `could not start: ${r.cause instanceof Error ? r.cause.message : r.shortMessage}`;
  const last = String(r.all ?? '')
    .trim()
    .split('\n')
    .at(-1);
  return `exit ${r.exitCode}${last ? `: ${tail(last)}` : ''}`;
}

/** Members of group `qubes` in /etc/group (dom0's desktop user is in it). */
export function qubesGroupMembers(groupFile: string): string[] {
  for (const line of groupFile.split('\n')) {
    const [name, , , members] = line.split(':');
    if (name === 'qubes' && members !== undefined)
      return members
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== '' && m !== 'root');
  }
  return [];
}

interface DesktopUser {
  name: string;
  uid: number;
}

function lookupUid(name: string): number | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid] = line.split(':');
      if (user === name && uid !== undefined && /^\d+$/.test(uid)) return Number(uid);
    }
  } catch {
    // no passwd file: unknown
  }
  return undefined;
}

function desktopUser(env: Env): DesktopUser | undefined {
  let name = env.WYNG_QUBES_DESKTOP_USER;
  if (name === undefined || name === '') {
    try {
      name = qubesGroupMembers(readFileSync('/etc/group', 'utf8'))[0];
    } catch {
      name = undefined;
    }
  }
  if (name === undefined || !/^[a-z_][a-z0-9_.-]{0,31}$/.test(name)) return undefined;
  const me = userInfo();
  if (name === me.username) return { name, uid: me.uid };
  const uid = lookupUid(name);
  return uid === undefined ? undefined : { name, uid };
}

export interface DesktopMessage {
  summary: string;
  body: string;
  urgency: 'low' | 'normal' | 'critical';
}

/**
 * notify-send on the dom0 user's desktop. As that user already: directly; as root (timer,
 * RPC privileged part): through `runuser -u USER --` with the user's session bus.
 * Returns a problem text, or undefined.
 */
export async function notifyDesktop(env: Env, message: DesktopMessage): Promise<string | undefined> {
  const notifySend = env.WYNG_QUBES_NOTIFY_SEND || 'notify-send';
  const user = desktopUser(env);
  if (user === undefined) return 'no desktop user found (set WYNG_QUBES_DESKTOP_USER, or add the user to group qubes)';
  const sendArgs = [
    '--app-name=wyng-qubes',
    `--urgency=${message.urgency}`,
    '--icon=drive-harddisk',
    '--',
    message.summary,
    message.body,
  ];
  const sessionEnv = {
    PATH: SAFE_PATH,
    LANG: 'C.UTF-8',
    DISPLAY: env.DISPLAY || ':0',
    XDG_RUNTIME_DIR: `/run/user/${user.uid}`,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=/run/user/${user.uid}/bus`,
  };
  const asOther = user.uid !== userInfo().uid;
  const program = asOther ? env.WYNG_QUBES_RUNUSER || 'runuser' : notifySend;
  const args = asOther
    ? [
        '-u',
        user.name,
        '--',
        'env',
        ...Object.entries(sessionEnv).map(([k, v]) => `${k}=${v}`),
        notifySend,
        ...sendArgs,
      ]
    : sendArgs;
  const r = await execa(program, args, {
    reject: false,
    shell: false,
    stdin: 'ignore',
    all: true,
    timeout: NOTIFY_TIMEOUT_MS,
    maxBuffer: MAX_OUTPUT,
    extendEnv: false,
    env: sessionEnv,
    encoding: 'utf8',
  });
  if (!r.failed && r.exitCode === 0) return undefined;
  if (r.exitCode === undefined)
    return `could not run ${program}: ${r.cause instanceof Error ? r.cause.message : r.shortMessage}`;
  const last = String(r.all ?? '')
    .trim()
    .split('\n')
    .at(-1);
  return `${program} exit ${r.exitCode}${last ? `: ${tail(last)}` : ''}`;
}
