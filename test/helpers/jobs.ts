// A sandbox for scheduled/profile runs: a config dir with profiles.yaml (mode 600), a state
// dir, the stub Wyng (test/fixtures/schedule/wyng-stub.mjs) and stub programs that record
// what they were given.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.ts';

export const FIXTURES = join(ROOT, 'test', 'fixtures', 'schedule');
export const WYNG_STUB = join(FIXTURES, 'wyng-stub.mjs');
export const SYSTEMCTL_STUB = join(FIXTURES, 'systemctl-stub.mjs');
export const RECORDER = join(FIXTURES, 'record-stdin.mjs');

export interface JobSandbox {
  dir: string;
  configDir: string;
  stateDir: string;
  env: Record<string, string>;
  /** A command (YAML flow list) that appends what it got to `dir/NAME.log`; mode "fail"/"sleep". */
  recorder(name: string, mode?: 'fail' | 'sleep'): string;
  /** Lines the recorder NAME wrote. */
  recorded(name: string): Array<{ args: string[]; env: Record<string, string>; stdin: string }>;
  wyngCalls(): Array<{ argv: string[]; mark: string | null }>;
  reports(): Array<Record<string, unknown>>;
  reportFiles(): string[];
  writeProfiles(yaml: string): void;
}

export function jobSandbox(profilesYaml?: (sb: JobSandbox) => string): JobSandbox {
  const dir = mkdtempSync(join(tmpdir(), 'wq-jobs-'));
  const configDir = join(dir, 'etc');
  const stateDir = join(dir, 'state');
  mkdirSync(configDir, { recursive: true });
  // notify-send stand-in: one JSON line per call (its argv and session environment).
  const notifySend = join(dir, 'notify-send');
  writeFileSync(
    notifySend,
    [
      `#!${process.execPath}`,
      "const { appendFileSync } = require('node:fs');",
      `appendFileSync(${JSON.stringify(join(dir, 'desktop.log'))}, JSON.stringify({ args: process.argv.slice(2), env: { DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS ?? null }, stdin: '' }) + '\\n');`,
      'if (process.env.NOTIFY_FAIL) process.exit(1);',
      '',
    ].join('\n'),
  );
  chmodSync(notifySend, 0o755);
  const readLines = <T>(path: string): T[] =>
    existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as T)
      : [];
  const sb: JobSandbox = {
    dir,
    configDir,
    stateDir,
    env: {
      WYNG_QUBES_CONFIG_DIR: configDir,
      WYNG_QUBES_STATE_DIR: stateDir,
      WYNG_QUBES_WYNG: WYNG_STUB,
      WYNG_QUBES_QUBESD_SOCKET: join(dir, 'no-qubesd.sock'),
      WYNG_QUBES_QUBES_DIR: join(dir, 'qubes'),
      WYNG_QUBES_LOCK_TIMEOUT_MS: '2000',
      WYNG_STUB_LOG: join(dir, 'wyng.log'),
      WYNG_QUBES_NOTIFY_SEND: notifySend,
      WYNG_QUBES_DESKTOP_USER: userInfo().username,
    },
    recorder: (name, mode) =>
      JSON.stringify([process.execPath, RECORDER, join(dir, `${name}.log`), ...(mode !== undefined ? [mode] : [])]),
    recorded: (name) => readLines(join(dir, `${name}.log`)),
    wyngCalls: () => readLines(join(dir, 'wyng.log')),
    reportFiles: () => (existsSync(join(stateDir, 'reports')) ? readdirSync(join(stateDir, 'reports')).sort() : []),
    reports: () =>
      sb
        .reportFiles()
        .map((f) => JSON.parse(readFileSync(join(stateDir, 'reports', f), 'utf8')) as Record<string, unknown>),
    writeProfiles: (yaml) => {
      const file = join(configDir, 'profiles.yaml');
      writeFileSync(file, yaml);
      chmodSync(file, 0o600);
    },
  };
  if (profilesYaml !== undefined) sb.writeProfiles(profilesYaml(sb));
  return sb;
}
