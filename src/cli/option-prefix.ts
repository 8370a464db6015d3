import { WqError } from '../core/errors.ts';

/** What expansion needs to know about an option (commander's Option has these fields). */
export interface PrefixOption {
  /** `--name`, when the option has a long form. */
  long?: string | undefined;
  /** `-x`, when the option has a short form. */
  short?: string | undefined;
  /** It takes a value (`--name VALUE` reads the next word). */
  required?: boolean | undefined;
}

/**
 * Unique long-option prefixes, as Python's argparse accepts them (allow_abbrev, so scripts
 * written for wyng-util-qubes 0.9 keep working): `--dedu` → `--dedup`, `--de=x` → `--dest=x`
 * when `--de` is the start of exactly one long option. An exact name always wins (`--all` next
 * to `--all-before`); a prefix of several options is a usage error naming them all, as
 * argparse's "ambiguous option: --al could match --all, --all-before". Words that are not
 * long options are left alone: values of options that take one (`--dest --x`, `-w --x`),
 * short options, unknown names (the parser reports them) and everything after `--`.
 */
export function expandOptionPrefixes(argv: readonly string[], options: readonly PrefixOption[]): string[] {
  const longs = options.flatMap((o) => (o.long !== undefined ? [o.long] : []));
  const takesValue = new Set(options.filter((o) => o.required === true).flatMap((o) => [o.long, o.short]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      const full = longs.includes(name) ? name : uniquePrefix(name, longs);
      out.push(full === undefined ? word : `${full}${eq < 0 ? '' : word.slice(eq)}`);
      // "--dest VALUE": the next word is the value, whatever it looks like.
      if (eq < 0 && full !== undefined && takesValue.has(full) && i + 1 < argv.length) out.push(argv[++i]!);
      continue;
    }
    out.push(word);
    // "-w VALUE", "-uw VALUE": a short option that takes a value and ends the word reads the next.
    if (/^-[^-]/.test(word)) {
      const at = [...word.slice(1)].findIndex((c) => takesValue.has(`-${c}`));
      if (at === word.length - 2 && i + 1 < argv.length) out.push(argv[++i]!);
    }
  }
  return out;
}

/** The one long option that starts with `name`; undefined when none does; a usage error when several do. */
function uniquePrefix(name: string, longs: readonly string[]): string | undefined {
  if (name.length <= 2) return undefined;
  const matches = longs.filter((l) => l.startsWith(name));
  if (matches.length > 1) throw new WqError('option', `ambiguous option: ${name} could match ${matches.join(', ')}`);
  return matches[0];
}
