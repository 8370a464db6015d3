import { WqError } from '../core/errors.ts';

/** What expansion needs to know about an option (commander's Option has these fields). */
export interface PrefixOption {
  /** `--name`, when the option has a long form. */
  long?: string | undefined;
  /** `-x`, when the option has a short form. */
  short?: string | undefined;
  /** It takes a value (`--name VALUE` reads the next word). */
  required?: boolean | undefined;
  /** Only its full name selects it (options added since 0.9 that would make an old prefix ambiguous). */
  exact?: boolean | undefined;
  /**
   * wyng-util-qubes 0.9 has it. A prefix that starts one 0.9 option means that option, as in 0.9,
   * whatever options were added since (`--pr` stays `--pref`); one that starts several 0.9 options
   * is ambiguous, as in 0.9. Only a prefix of no 0.9 option is looked up among the others.
   */
  v09?: boolean | undefined;
}

/** An option's value is missing: nothing follows, or what follows starts with `--` (another option). */
function needsValue(value: string | undefined): boolean {
  return value === undefined || value.startsWith('--');
}

/**
 * Unique long-option prefixes, as Python's argparse accepts them (allow_abbrev, so scripts
 * written for wyng-util-qubes 0.9 keep working): `--dedu` → `--dedup`, `--de=x` → `--dest=x`
 * when `--de` is the start of exactly one long option. An exact name always wins (`--all` next
 * to `--all-before`); a prefix of several options is a usage error naming them all, as
 * argparse's "ambiguous option: --al could match --all, --all-before"; 0.9's options are asked
 * first, so that a 0.9 prefix keeps its 0.9 meaning (PrefixOption.v09). Words that are not
 * long options are left alone: values of options that take one, short options, unknown names
 * (the parser reports them) and everything after `--`.
 *
 * A value that starts with `--` is a missing value, not a value: `list --dest --json` is the
 * usage error "--dest needs a value" (exit 9), never `--dest=--json` passed on to Wyng. No option
 * value starts with `--` (`-w` takes Wyng's option without its dashes).
 */
export function expandOptionPrefixes(argv: readonly string[], options: readonly PrefixOption[]): string[] {
  const longs = options.flatMap((o) => (o.long !== undefined ? [o.long] : []));
  const prefixable = options.flatMap((o) => (o.long !== undefined && o.exact !== true ? [o.long] : []));
  const old = options.flatMap((o) => (o.long !== undefined && o.v09 === true ? [o.long] : []));
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
      const full = longs.includes(name) ? name : (uniquePrefix(name, old) ?? uniquePrefix(name, prefixable));
      out.push(full === undefined ? word : `${full}${eq < 0 ? '' : word.slice(eq)}`);
      if (full !== undefined && takesValue.has(full)) {
        // "--dest VALUE" / "--dest=VALUE"
        const value = eq < 0 ? argv[i + 1] : word.slice(eq + 1);
        if (needsValue(value)) throw new WqError('option', `${full} needs a value`);
        if (eq < 0) out.push(argv[++i]!);
      }
      continue;
    }
    out.push(word);
    // "-w VALUE", "-uw VALUE": a short option that takes a value and ends the word reads the next.
    if (/^-[^-]/.test(word)) {
      const at = [...word.slice(1)].findIndex((c) => takesValue.has(`-${c}`));
      if (at === word.length - 2) {
        const short = `-${word[word.length - 1]!}`;
        if (needsValue(argv[i + 1])) {
          const long = options.find((o) => o.short === short)?.long;
          throw new WqError('option', `${long !== undefined ? `${short}, ${long}` : short} needs a value`);
        }
        out.push(argv[++i]!);
      }
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
