import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandOptionPrefixes, type PrefixOption } from '../../src/cli/option-prefix.ts';
import { parseCommandLine, prefixOptions } from '../../src/cli/program.ts';
import { COMMANDS } from '../../src/core/options.ts';
import { WqError } from '../../src/core/errors.ts';
import { runInProcess } from '../helpers/cli.ts';

const OPTS: PrefixOption[] = [
  { long: '--dest', required: true },
  { long: '--dedup', short: '-d' },
  { long: '--debug' },
  { long: '--all' },
  { long: '--all-before' },
  { long: '--wyngopt', short: '-w', required: true },
  { long: '--unattended', short: '-u' },
  { long: '--no-auto-rename' },
];

const ambiguity = (argv: string[]): string => {
  try {
    expandOptionPrefixes(argv, OPTS);
  } catch (err) {
    assert.ok(err instanceof WqError);
    assert.equal(err.kind, 'option');
    return err.message;
  }
  assert.fail(`no error for ${argv.join(' ')}`);
};

test('a unique prefix becomes the long option, with or without =VALUE', () => {
  assert.deepEqual(expandOptionPrefixes(['--dedu', 'backup'], OPTS), ['--dedup', 'backup']);
  assert.deepEqual(expandOptionPrefixes(['--des=file:/a', 'list'], OPTS), ['--dest=file:/a', 'list']);
  assert.deepEqual(expandOptionPrefixes(['--des', 'file:/a'], OPTS), ['--dest', 'file:/a']);
  assert.deepEqual(expandOptionPrefixes(['--deb', '--no-auto'], OPTS), ['--debug', '--no-auto-rename']);
  assert.deepEqual(expandOptionPrefixes(['--unat'], OPTS), ['--unattended']);
});

test('an exact name wins over longer options it starts', () => {
  assert.deepEqual(expandOptionPrefixes(['--all', 'list'], OPTS), ['--all', 'list']);
  assert.deepEqual(expandOptionPrefixes(['--all-b'], OPTS), ['--all-before']);
});

test('a prefix of several options is a usage error naming them (argparse wording)', () => {
  assert.equal(ambiguity(['--de']), 'ambiguous option: --de could match --dest, --dedup, --debug');
  assert.equal(ambiguity(['list', '--al=x']), 'ambiguous option: --al could match --all, --all-before');
});

test('values, short options, unknown names and words after -- are left alone', () => {
  const same = (argv: string[]): void => assert.deepEqual(expandOptionPrefixes(argv, OPTS), argv);
  same(['--dest', '-x', 'list']);
  same(['-w', 'de', 'backup']);
  same(['-uw', 'x', 'backup']);
  same(['--bogus', '--', '--dedu', '--de']);
  same(['-d', '-u', 'backup', 'work']);
  same(['--', '--al']);
  same(['-', '--']);
  // "-wu": u is -w's value here, so the next word is a word of its own.
  assert.deepEqual(expandOptionPrefixes(['-wu', '--dedu'], OPTS), ['-wu', '--dedup']);
  // "--" alone and "--x" where nothing starts with "--x" are the parser's business.
  same(['--x', 'list']);
});

test('an option marked exact is never the expansion of a prefix', () => {
  const opts: PrefixOption[] = [...OPTS, { long: '--debug-all', exact: true }];
  assert.deepEqual(expandOptionPrefixes(['--deb'], opts), ['--debug']);
  assert.deepEqual(expandOptionPrefixes(['--debug-all'], opts), ['--debug-all']);
  assert.deepEqual(expandOptionPrefixes(['--debug-a'], opts), ['--debug-a']);
});

test("a prefix of a 0.9 option keeps 0.9's meaning; others are looked up among the rest", () => {
  const opts: PrefixOption[] = [
    { long: '--pref', required: true, v09: true },
    { long: '--remap', v09: true },
    { long: '--all', v09: true },
    { long: '--all-before', v09: true },
    { long: '--profile', required: true },
    { long: '--progress', required: true },
    { long: '--allow-reach', required: true },
  ];
  assert.deepEqual(expandOptionPrefixes(['--pr=x', '--re'], opts), ['--pref=x', '--remap']);
  assert.deepEqual(expandOptionPrefixes(['--allo', 'x', '--prof', 'p'], opts), [
    '--allow-reach',
    'x',
    '--profile',
    'p',
  ]);
  assert.throws(() => expandOptionPrefixes(['--al'], opts), /ambiguous option: --al could match --all, --all-before/);
  assert.throws(() => expandOptionPrefixes(['--pro=x'], opts), /could match --profile, --progress/);
});

test('a value that starts with -- is a missing value, not the next option swallowed', () => {
  const message = ambiguity; // the usage error's message
  assert.equal(message(['--dest', '--de', 'list']), '--dest needs a value');
  assert.equal(message(['--des', '--json']), '--dest needs a value');
  assert.equal(message(['--dest=--de', 'list']), '--dest needs a value');
  assert.equal(message(['list', '--dest']), '--dest needs a value');
  assert.equal(message(['--wyngopt', '--al']), '--wyngopt needs a value');
  assert.equal(message(['-w', '--de', 'backup']), '-w, --wyngopt needs a value');
  assert.equal(message(['-uw', '--de', 'backup']), '-w, --wyngopt needs a value');
  assert.equal(message(['backup', '-w']), '-w, --wyngopt needs a value');
});

test('every command accepts the prefixes wyng-util-qubes 0.9 accepted, with their 0.9 meaning', () => {
  // 0.9's long options (its argparse table) and the ones added since.
  const v09 = [
    '--dest', '--authmin', '--session', '--dedup', '--includes', '--exclude', '--check-after-send', '--autoprune',
    '--all-before', '--all', '--pref', '--pool-info', '--pool', '--wyng', '--wyngopt', '--no-snapshot-restore',
    '--no-auto-rename', '--no-qubes-post', '--include-disposable', '--remap', '--force-incomplete', '--unattended',
    '--verbose', '--debug', '--meta-dir', '--help',
  ]; // prettier-ignore
  const oldOpts = v09.map((long) => ({ long }));
  const resolve = (word: string, opts: readonly PrefixOption[]): string => {
    try {
      return expandOptionPrefixes([word, 'x'], opts)[0]!;
    } catch {
      return 'ambiguous';
    }
  };
  for (const command of [undefined, ...COMMANDS]) {
    const ours = prefixOptions(command);
    const changed: string[] = [];
    for (const long of v09)
      for (let n = 3; n <= long.length; n++) {
        const prefix = long.slice(0, n);
        // the same option, or ambiguous where 0.9 found it ambiguous
        if (resolve(prefix, ours) !== resolve(prefix, oldOpts)) changed.push(prefix);
      }
    // `--force` (issue 19) is backup's and restore's own option now; it still implies what 0.9 read it as
    const expected = command === undefined || command === 'backup' || command === 'restore' ? ['--force'] : [];
    assert.deepEqual(changed, expected, `${command ?? '(no command)'}: README "Compatibility" promises these`);
  }
  // --pr and --re are 0.9's --pref and --remap, although --profile, --progress, --rename-conflicting exist now
  assert.equal(resolve('--pr', prefixOptions('restore')), '--pref');
  assert.equal(resolve('--re', prefixOptions('restore')), '--remap');
  // a prefix of no 0.9 option is looked up among the command's options
  assert.equal(resolve('--allow-re', prefixOptions('restore')), '--allow-reach');
  assert.equal(resolve('--pro', prefixOptions('backup')), 'ambiguous');
  assert.equal(resolve('--pro', prefixOptions('report')), '--profile');
  const io0 = { stdout: () => undefined, stderr: () => undefined, stdinIsTTY: false };
  for (const [word, space] of [
    ['--force', true],
    ['--forc', false],
    ['--force-incomplete', false],
  ] as const) {
    const p = parseCommandLine([word, 'restore', 'work'], io0);
    assert.ok(!('help' in p));
    if (!('help' in p)) {
      assert.equal(p.options.forceIncomplete, true, word);
      assert.equal(p.options.ignoreSpace, space, word);
      assert.equal(p.explicit.has('ignoreSpace'), space, word);
    }
  }
  // Through the real parser.
  const io = { stdout: () => undefined, stderr: () => undefined, stdinIsTTY: false };
  const parsed = parseCommandLine(['--dedu', '--exc', 'a', '--exc=b', '--autop=full', 'backup', 'work'], io);
  assert.ok(!('help' in parsed));
  if (!('help' in parsed)) {
    assert.equal(parsed.options.dedup, true);
    assert.deepEqual(parsed.options.exclude, ['a', 'b']);
    assert.equal(parsed.options.autoprune, 'full');
    assert.deepEqual(parsed.args, ['work']);
  }
});

test('an ambiguous prefix exits 9 (argparse exits 2) with one line naming the candidates', async () => {
  const r = await runInProcess(['--al', 'list']);
  assert.equal(r.code, 9);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'Error: ambiguous option: --al could match --all-before, --all\n');
  const n = await runInProcess(['backup', '--pro=x']);
  assert.equal(n.code, 9);
  assert.equal(n.stderr, 'Error: ambiguous option: --pro could match --profile, --progress\n');
  const help = await runInProcess(['--he']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: wyng-qubes/);
});
