// The bash completion (packaging/wyng-qubes.bash-completion) in a real bash: what COMPREPLY holds
// for a simulated command line (COMP_WORDS split as bash splits it, "=" a word of its own).
// Issue 16 defect 17: values after "--autoprune=", profile names from `wyng-qubes profiles`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE, ROOT } from '../helpers/cli.ts';
import { OPTION_TABLE } from '../../src/cli/command-table.ts';
import { COMMANDS } from '../../src/core/options.ts';

const COMPLETION = join(ROOT, 'packaging', 'wyng-qubes.bash-completion');
const dir = mkdtempSync(join(tmpdir(), 'wq-compl-'));
const bin = join(dir, 'bin');
const configDir = join(dir, 'etc');
mkdirSync(bin);
mkdirSync(configDir);
// `wyng-qubes` on PATH is the built bundle.
writeFileSync(join(bin, 'wyng-qubes'), `#!/bin/sh\nexec '${process.execPath}' '${BUNDLE}' "$@"\n`);
chmodSync(join(bin, 'wyng-qubes'), 0o755);
// Indented by four and one broken profile: only `wyng-qubes profiles` knows which names are usable.
writeFileSync(
  join(configDir, 'profiles.yaml'),
  [
    'profiles:',
    '    nightly:',
    '        dest: file:/mnt/backup/a',
    '    weekly: {dest: "file:/mnt/backup/b"}',
    '    broken:',
    '        dest: file:/mnt/backup/c',
    '        typo: 1',
    '',
  ].join('\n'),
  { mode: 0o600 },
);

/** COMPREPLY for the words (the last one is where the cursor is), one per line, sorted. */
function complete(words: string[]): string[] {
  const script = [
    `source '${COMPLETION}'`,
    'complete -p wyng-qubes >/dev/null || exit 3',
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    'COMPREPLY=()',
    '_wyng_qubes',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const out = execFileSync('bash', ['--noprofile', '--norc', '-c', script], {
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir, WYNG_QUBES_CONFIG_DIR: configDir },
  });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

test('the completion is registered for wyng-qubes', () => {
  const out = execFileSync('bash', ['--noprofile', '--norc', '-c', `source '${COMPLETION}'; complete -p wyng-qubes`], {
    encoding: 'utf8',
  });
  assert.equal(out.trim(), 'complete -F _wyng_qubes wyng-qubes');
});

test('after --autoprune= and --include-disposable= the values are offered, not command names', () => {
  assert.deepEqual(complete(['wyng-qubes', '--autoprune', '=', '']), ['full', 'off', 'on']);
  assert.deepEqual(complete(['wyng-qubes', '--autoprune', '=', 'o']), ['off', 'on']);
  assert.deepEqual(complete(['wyng-qubes', 'backup', '--autoprune', '=']), ['full', 'off', 'on']);
  assert.deepEqual(complete(['wyng-qubes', '--include-disposable', '=', '']), ['off', 'on']);
  assert.deepEqual(complete(['wyng-qubes', '--progress', '=', '']), ['json']);
  // and "--autoprune=on" is not taken for the command: the command is still to be given
  assert.ok(complete(['wyng-qubes', '--autoprune', '=', 'on', 'ba']).includes('backup'));
  assert.deepEqual(complete(['wyng-qubes', '--autoprune', 'full', '']).includes('backup'), true);
});

test('profile names come from `wyng-qubes profiles`: the usable profiles only', () => {
  assert.deepEqual(complete(['wyng-qubes', 'backup', '--profile', '']), ['nightly', 'weekly']);
  assert.deepEqual(complete(['wyng-qubes', 'backup', '--profile', '=', 'n']), ['nightly']);
  assert.deepEqual(complete(['wyng-qubes', 'schedule', 'enable', '']), ['nightly', 'weekly']);
  assert.deepEqual(complete(['wyng-qubes', 'report', 'w']), ['weekly']);
});

test('commands, sub-commands and flags', () => {
  assert.ok(complete(['wyng-qubes', '']).includes('restore'));
  assert.ok(complete(['wyng-qubes', '']).includes('help'));
  assert.deepEqual(complete(['wyng-qubes', 'profiles', '']), ['check', 'list']);
  assert.ok(complete(['wyng-qubes', '--ver']).includes('--version'));
});

test("each command's options are the ones its help shows (the command table)", () => {
  const text = readFileSync(COMPLETION, 'utf8');
  const block = /_wyng_qubes_command_options\(\) \{[\s\S]*?case "\$1" in\n([\s\S]*?)\n {4}esac/.exec(text)![1]!;
  const inFile = Object.fromEntries(
    [...block.matchAll(/^ {8}([a-z]+)\) echo "([^"]*)" ;;$/gm)].map((m) => [m[1]!, m[2]!.split(/\s+/).sort()]),
  );
  const table = Object.fromEntries(
    COMMANDS.map((c) => [
      c,
      [
        ...OPTION_TABLE.filter((s) => s.commands.includes(c)).flatMap((s) =>
          s.flags.split(/[ ,]+/).filter((f) => f.startsWith('-')),
        ),
        '-h',
        '--help',
      ].sort(),
    ]),
  );
  assert.deepEqual(inFile, table, 'packaging/wyng-qubes.bash-completion lists what src/cli/command-table.ts says');
  // after the command: its options only; before it: every option
  const backup = complete(['wyng-qubes', '--dest', 'file:/x', 'backup', '--']);
  assert.ok(backup.includes('--dedup') && backup.includes('--autoprune') && backup.includes('--dest'));
  assert.ok(!backup.includes('--pool') && !backup.includes('--allow-reach') && !backup.includes('--last'));
  assert.deepEqual(complete(['wyng-qubes', 'restore', '--allow-r']), ['--allow-reach', '--allow-rollback']);
  assert.deepEqual(complete(['wyng-qubes', 'report', '--l']), ['--last']);
  assert.ok(complete(['wyng-qubes', '--al']).includes('--allow-reach'));
});
