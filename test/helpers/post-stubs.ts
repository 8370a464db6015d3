// Stand-ins for the programs of the restore post step: `sudo` (what WYNG_QUBES_SUDO names) and
// the qvm-* programs it runs as the dom0 user. sudo finds them in the stub directory (as the real
// one does through its secure_path); each qvm-* stub asks qubesd for the qube's power state, so
// its run also shows up, in order, in the fake qubesd's call log.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PostCall {
  prog: string;
  args: string[];
  /** qvm-* only: the qube's power state when the program ran (qubesd's answer) */
  power?: string;
}

export interface PostStubs {
  /** environment for wyng-qubes: WYNG_QUBES_SUDO and the stubs' settings */
  env: Record<string, string>;
  /** the calls so far, in order */
  calls(): PostCall[];
  clear(): void;
}

function stubSource(): string {
  return `#!${process.execPath}
const { appendFileSync } = require('node:fs');
const { basename, join } = require('node:path');
const { spawnSync } = require('node:child_process');
const net = require('node:net');
const prog = basename(process.argv[1]);
const args = process.argv.slice(2);
const write = (entry) => appendFileSync(process.env.POST_STUB_LOG, JSON.stringify(entry) + '\\n');
if (prog === 'sudo') {
  write({ prog, args });
  const i = args[0] === '-u' ? 2 : 0;
  const r = spawnSync(join(process.env.POST_STUB_BIN, args[i]), args.slice(i + 1), { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const qube = args.at(-1);
const sock = net.connect(process.env.WYNG_QUBES_QUBESD_SOCKET);
const chunks = [];
sock.on('data', (d) => chunks.push(d));
sock.on('end', () => {
  const reply = Buffer.concat(chunks).toString('latin1');
  const power = reply.startsWith('0\\0') ? (/power_state=(\\S+)/.exec(reply) ?? [])[1] : 'error';
  write({ prog, args, power });
  process.exit(process.env.POST_STUB_FAIL === prog ? 3 : 0);
});
sock.end('admin.vm.CurrentState+ dom0 name ' + qube + '\\0');
`;
}

/** Writes the stubs below `dir` (sudo in `dir/sudo-bin`, not on any PATH; qvm-* in `dir/bin`). */
export function installPostStubs(dir: string): PostStubs {
  const sudoDir = join(dir, 'sudo-bin');
  const binDir = join(dir, 'bin');
  const log = join(dir, 'post-stubs.jsonl');
  mkdirSync(sudoDir, { recursive: true });
  mkdirSync(binDir, { recursive: true });
  for (const path of [join(sudoDir, 'sudo'), join(binDir, 'qvm-sync-appmenus'), join(binDir, 'qvm-appmenus')]) {
    writeFileSync(path, stubSource());
    chmodSync(path, 0o755);
  }
  return {
    env: { WYNG_QUBES_SUDO: join(sudoDir, 'sudo'), POST_STUB_BIN: binDir, POST_STUB_LOG: log },
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as PostCall)
        : [],
    clear: () => writeFileSync(log, ''),
  };
}
