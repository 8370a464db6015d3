/**
 * `npm run sim`: the simulator to try wyng-qubes by hand. Starts the fake qubesd seeded with a
 * realistic qubes.xml (test/fixtures/qubes-xml/lab-scenario.xml: a template, sys-net,
 * sys-firewall, a disposable template and a named disposable, app qubes in two pools, a
 * standalone, a clone; volumes are real files) and points the fake Wyng at an archive in the
 * same temp dir, which it creates (unencrypted). Prints the environment to paste into a shell
 * (sh `export` lines; everything else on stdout is a `#` comment, so `eval "$(...)"` works),
 * then stays up until Ctrl-C (SIGINT/SIGTERM) and removes its temp dir.
 *
 *   npm run sim            # in one terminal
 *   <paste the export lines into another>, then from any directory:
 *   wyng-qubes list --dest "$WQ_DEST"; wyng-qubes backup --dest "$WQ_DEST" work personal
 *
 * Options: --keep (leave the temp dir), --no-archive (do not create the archive).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, SocketTransport } from '../src/adapters/qubesd/index.ts';
import { BUNDLE, runBundle } from '../test/helpers/cli.ts';
import { buildSandbox } from '../test/helpers/sim.ts';

const keep = process.argv.includes('--keep');
const out = (s = ''): void => void process.stdout.write(`${s}\n`);
/** A word for sh: single-quoted, a single quote as '\''. */
const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const sim = await buildSandbox({ keep });
let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await sim.stop();
  process.stderr.write(keep ? `simulator stopped; kept ${sim.dir}\n` : 'simulator stopped; temp dir removed\n');
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  // `wyng-qubes` on PATH: the built bundle (npm run build), whatever the current directory.
  const bin = join(sim.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'wyng-qubes'), `#!/bin/sh\nexec ${sh(process.execPath)} ${sh(BUNDLE)} "$@"\n`);
  chmodSync(join(bin, 'wyng-qubes'), 0o755);
  // A profile for --profile sim, as dom0's /etc/wyng-qubes/profiles.yaml would hold it.
  const configDir = sim.env.WYNG_QUBES_CONFIG_DIR!;
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    join(configDir, 'profiles.yaml'),
    `profiles:\n  sim:\n    dest: ${JSON.stringify(sim.archiveUrl)}\n    qubes: [work, personal, vault]\n`,
    { mode: 0o600 },
  );
  let archive = 'not created (--no-archive): wyng-qubes create --dest "$WQ_DEST" -w encrypt=off';
  if (!process.argv.includes('--no-archive')) {
    const r = await runBundle(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u'], { env: sim.env });
    if (r.code !== 0) throw new Error(`creating the archive failed (exit ${r.code}): ${r.stderr.trim()}`);
    archive = 'created, unencrypted';
  }
  const client = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 10_000 }));
  const qubes = (await client.listQubes()).map((q) => `${q.name} (${q.klass})`);
  out('# wyng-qubes simulator: a fake qubesd and the fake Wyng in ' + sim.dir);
  out(`# qubes: ${qubes.join(', ')}`);
  out(`# archive: ${sim.archiveUrl} (${archive}); profile 'sim' backs up work, personal, vault`);
  out('# Paste these lines into a shell (or eval them), then run wyng-qubes from any directory:');
  for (const [k, v] of Object.entries(sim.env).sort()) out(`export ${k}=${sh(v)}`);
  out(`export WQ_DEST=${sh(sim.archiveUrl)}`);
  out(`export PATH=${sh(bin)}:"$PATH"`);
  out('# e.g.  wyng-qubes list --dest "$WQ_DEST"   wyng-qubes backup --dest "$WQ_DEST" work personal');
  out('#       wyng-qubes backup --profile sim      wyng-qubes restore --dest "$WQ_DEST" --dry-run work');
  out('# Ctrl-C here stops the simulator and removes its temp dir.');
} catch (err) {
  process.stderr.write(`sim failed: ${(err as Error).message}\n`);
  await stop(1);
}
