// The command line's table (src/cli/command-table.ts): every option of the option model is in it once,
// every 0.9 option is marked as such and accepted by every command, each command's help shows its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Option } from 'commander';
import { OPTION_TABLE } from '../../src/cli/command-table.ts';
import { helpText, parseCommandLine } from '../../src/cli/program.ts';
import { COMMANDS, CommonOptionsSchema } from '../../src/core/options.ts';
import { WqError } from '../../src/core/errors.ts';

const io = { stdout: () => undefined, stderr: () => undefined, stdinIsTTY: false };
const longOf = (flags: string): string => new Option(flags).long!;

// wyng-util-qubes 0.9's argparse table (src/wyng-util-qubes, parser_defs), with a valid value where one is taken.
const V09: Record<string, string | undefined> = {
  '--dest': 'file:/x', '--authmin': '1', '--session': '20240101-000000', '--dedup': undefined,
  '--includes': undefined, '--exclude': 'a', '--check-after-send': undefined, '--autoprune': 'on',
  '--all-before': undefined, '--all': undefined, '--pref': 'label::x', '--pool-info': undefined, '--pool': 'p',
  '--wyng': '/w', '--wyngopt': 'x', '--no-snapshot-restore': undefined, '--no-auto-rename': undefined,
  '--no-qubes-post': undefined, '--include-disposable': 'on', '--remap': undefined, '--force-incomplete': undefined,
  '--unattended': undefined, '--verbose': undefined, '--debug': undefined, '--meta-dir': '/m',
}; // prettier-ignore

test('every key of the option model is one option of the table, and the other way round', () => {
  const keys = OPTION_TABLE.filter((s) => s.model !== false).map((s) =>
    longOf(s.flags)
      .slice(2)
      .replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
  );
  assert.deepEqual([...keys].sort(), Object.keys(CommonOptionsSchema.shape).sort());
  assert.equal(new Set(OPTION_TABLE.map((s) => longOf(s.flags))).size, OPTION_TABLE.length, 'each option once');
});

test("the table's 0.9 options are exactly 0.9's, and every command accepts each of them", () => {
  const marked = OPTION_TABLE.filter((s) => s.v09 === true).map((s) => longOf(s.flags));
  assert.deepEqual([...marked].sort(), Object.keys(V09).sort());
  for (const command of COMMANDS)
    for (const [flag, value] of Object.entries(V09)) {
      const argv = [command, value === undefined ? flag : `${flag}=${value}`];
      if (flag === '--all' && command !== 'list' && command !== 'prune') {
        // refused as 0.9 refuses it
        assert.throws(() => parseCommandLine(argv, io), /--all is only valid with list and prune/);
        continue;
      }
      const p = parseCommandLine(argv, io);
      assert.ok(!('help' in p) && p.command === command, argv.join(' '));
    }
});

test("each command's help lists the options of its table entries, no other", () => {
  for (const command of COMMANDS) {
    const text = helpText(command);
    const listed = new Set([...text.matchAll(/^ {2}(?:-[a-zA-Z], )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
    const own = OPTION_TABLE.filter((s) => s.commands.includes(command)).map((s) => longOf(s.flags));
    assert.deepEqual([...listed].sort(), [...own, '--help'].sort(), command);
  }
});

test('an option added since 0.9 is refused by the commands that do not use it, naming those that do', () => {
  for (const spec of OPTION_TABLE.filter((s) => s.v09 !== true && s.everywhere !== true)) {
    const long = longOf(spec.flags);
    const value = new Option(spec.flags).required ? ['x'] : [];
    for (const command of COMMANDS.filter((c) => !spec.commands.includes(c))) {
      if (long === '--force') {
        // elsewhere `--force` is what 0.9 read it as: its prefix of --force-incomplete (ignored where unused)
        const p = parseCommandLine([command, long], io);
        assert.ok(!('help' in p) && p.options.forceIncomplete && !p.options.ignoreSpace, command);
        continue;
      }
      assert.throws(
        () => parseCommandLine([command, long, ...value], io),
        (err: unknown) =>
          err instanceof WqError && err.kind === 'option' && err.message.startsWith(`${long} is only valid with`),
        `${command} ${long}`,
      );
    }
  }
});
