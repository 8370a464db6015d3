// Wyng's command line (argparse): the same options, defaults, error texts and exit code 2, and
// the consistency checks Wyng makes right after parsing (design.md "Wyng contract").
import { optionError } from './context.mjs';
import { stdinIsTTY } from './env.mjs';

export const LOCAL_ACTIONS = ['monitor', 'version'];
export const WRITE_ACTIONS = ['add', 'send', 'prune', 'delete', 'rename', 'arch-deduplicate', 'arch-init'];
export const DEST_ACTIONS = ['list', 'receive', 'verify', 'diff', 'arch-check', ...WRITE_ACTIONS];
export const ACTIONS = [...LOCAL_ACTIONS, ...DEST_ACTIONS];

// [option strings, dest, kind, extra]; kind: flag | count | value | append | help
const DEFS = [
  [['--dest'], 'dest', 'value', { default: '' }],
  [['--local'], 'local', 'value', { default: '' }],
  [['--unattended', '-u'], 'unattended', 'flag'],
  [['--authmin'], 'authmin', 'value', { default: '5' }],
  [['--all-before'], 'allbefore', 'flag'],
  [['--all', '-a'], 'all', 'flag'],
  [['--session'], 'session', 'value'],
  [['--session-strict'], 'session_strict', 'value', { choices: ['on', 'off'], default: 'on' }],
  [['--dedup', '-d'], 'dedup', 'flag'],
  [['--volume-desc'], 'voldesc', 'value', { default: '' }],
  [['--tag'], 'tag', 'append'],
  [['--keep'], 'keep', 'append'],
  [['--volex'], 'volex', 'append'],
  [['--autoprune'], 'autoprune', 'value', { default: 'off' }],
  [['--apdays'], 'apdays', 'value'],
  [['--save-to'], 'save_to', 'value'],
  [['--sparse'], 'sparse', 'flag'],
  [['--sparse-write'], 'sparse_write', 'flag'],
  [['--skip-corrupt-chunks'], 'skip_corrupt_chunks', 'flag'],
  [['--use-snapshot'], 'use_snapshot', 'flag'],
  [['--use-snapshot-diff'], 'use_snapshot_diff', 'flag'],
  [['--req-snapshot'], 'req_snapshot', 'flag'],
  [['--import-other-from'], 'import_other_from', 'append'],
  [['--remap'], 'remap', 'flag'],
  [['--send-unchanged'], 'send_unchanged', 'flag'],
  [['--vols-from', '--local-from'], 'vols_from', 'value'],
  [['--encrypt'], 'encrypt', 'value'],
  [['--compression'], 'compression', 'value', { default: '' }],
  [['--hashtype'], 'hashtype', 'value', { default: '' }],
  [['--chunk-factor'], 'chfactor', 'value'],
  [['--vid'], 'vid', 'value'],
  [['--passcmd'], 'passcmd', 'value'],
  [['--config'], 'config', 'value'],
  [['--meta-dir'], 'metadir', 'value', { default: '' }],
  [['--meta-reduce'], 'meta_reduce', 'value', { default: 'on:3000' }],
  [['--json'], 'json', 'flag'],
  [['--quick'], 'quick', 'flag'],
  [['--force'], 'force', 'flag'],
  [['--force-retry'], 'force_retry', 'flag'],
  [['--force-allow-rollback'], 'force_allow_rollback', 'flag'],
  [['--vouch'], 'vouch', 'append'],
  [['--clean'], 'clean', 'flag'],
  [['--purge'], 'purge', 'value', { choices: ['other', 'full'] }],
  [['--maxsync'], 'maxsync', 'flag'],
  [['--upgrade-format'], 'upgrade_format', 'flag'],
  [['--tar-bypass'], 'tar_bypass', 'flag'],
  [['--opt-ssh'], 'opt_ssh', 'append'],
  [['--opt-qubes'], 'opt_qubes', 'append'],
  [['--change-uuid'], 'change_uuid', 'flag'],
  [['--dry-run'], 'dry_run', 'flag'],
  [['--purge-tmp'], 'purge_tmp', 'flag'],
  [['--debug'], 'debug', 'flag'],
  [['--quiet'], 'quiet', 'flag'],
  [['--verbose'], 'verbose', 'count'],
  [['-h', '--help'], 'help', 'help'],
];

// The usage block Wyng 0.8 rc4 prints (recorded in transcripts/err-argparse-*.json).
/* eslint-disable max-len -- Wyng's usage text, recorded verbatim (one line is 121 characters) */
export const USAGE = `usage: wyng [-h] [--dest DEST] [--local LOCAL] [--unattended]
            [--authmin AUTHMIN] [--all-before] [--all] [--session SESSION]
            [--session-strict {on,off}] [--dedup] [--volume-desc VOLDESC]
            [--tag TAG] [--keep KEEP] [--volex VOLEX] [--autoprune AUTOPRUNE]
            [--apdays APDAYS] [--save-to SAVE_TO] [--sparse] [--sparse-write]
            [--skip-corrupt-chunks] [--use-snapshot] [--use-snapshot-diff]
            [--req-snapshot] [--import-other-from IMPORT_OTHER_FROM] [--remap]
            [--send-unchanged] [--vols-from VOLS_FROM] [--encrypt ENCRYPT]
            [--compression COMPRESSION] [--hashtype HASHTYPE]
            [--chunk-factor CHFACTOR] [--vid VID] [--passcmd PASSCMD]
            [--config CONFIG] [--meta-dir METADIR] [--meta-reduce META_REDUCE]
            [--json] [--quick] [--force] [--force-retry]
            [--force-allow-rollback] [--vouch VOUCH] [--clean]
            [--purge {other,full}] [--maxsync] [--upgrade-format]
            [--tar-bypass] [--opt-ssh OPT_SSH] [--opt-qubes OPT_QUBES]
            [--change-uuid] [--dry-run] [--purge-tmp] [--debug] [--quiet]
            [--verbose]
            {monitor,version,list,receive,verify,diff,arch-check,add,send,prune,delete,rename,arch-deduplicate,arch-init}
            [volumes ...]
`;
/* eslint-enable max-len */

const HELP = `${USAGE}
Backup logical volumes and disk images.

positional arguments:
  {${ACTIONS.join(',')}}
                        Wyng Commands

(Test double of Wyng 0.8 rc4: see test/fakes/README.md.)
License: GPLv3 (see 'LICENSE' file)
`;

/** An argparse usage error: usage + `wyng: error: MSG` on stderr, exit 2, nothing on stdout. */
export class ArgparseError extends Error {}
/** `-h`: help on stdout, exit 0. */
export class HelpRequested extends Error {
  constructor() {
    super('help');
    this.text = HELP;
  }
}

const LONG = new Map();
const SHORT = new Map();
for (const [strings, dest, kind, extra] of DEFS) {
  const def = { strings, dest, kind, ...(extra ?? {}) };
  for (const s of strings) (s.startsWith('--') ? LONG : SHORT).set(s, def);
}

function isNegativeNumber(a) {
  return /^-\d+$|^-\d*\.\d+$/.test(a);
}

function lookupLong(name, arg) {
  const exact = LONG.get(name);
  if (exact) return exact;
  const matches = [...LONG.keys()].filter((k) => k.startsWith(name));
  if (matches.length === 1) return LONG.get(matches[0]);
  if (matches.length > 1) throw new ArgparseError(`ambiguous option: ${arg} could match ${matches.join(', ')}`);
  return undefined;
}

function defaults() {
  const o = {};
  for (const [, dest, kind, extra] of DEFS) {
    if (kind === 'help') continue;
    if (kind === 'flag') o[dest] = false;
    else if (kind === 'count') o[dest] = 0;
    else if (kind === 'append') o[dest] = [];
    else o[dest] = extra?.default ?? null;
  }
  return o;
}

/** argparse.parse_args(argv) for Wyng's parser. */
export function parseArgs(argv) {
  const o = defaults();
  const positionals = [];
  const extras = [];
  let rest = false;
  const apply = (def, value, next) => {
    const label = `argument ${def.strings.join('/')}`;
    if (def.kind === 'help') throw new HelpRequested();
    if (def.kind === 'flag' || def.kind === 'count') {
      if (value !== undefined) throw new ArgparseError(`${label}: ignored explicit argument '${value}'`);
      if (def.kind === 'flag') o[def.dest] = true;
      else o[def.dest] += 1;
      return 0;
    }
    let used = 0;
    if (value === undefined) {
      if (next === undefined || (next.startsWith('-') && next !== '-' && !isNegativeNumber(next))) {
        throw new ArgparseError(`${label}: expected one argument`);
      }
      value = next;
      used = 1;
    }
    if (def.choices && !def.choices.includes(value)) {
      throw new ArgparseError(
        `${label}: invalid choice: '${value}' (choose from ${def.choices.map((c) => `'${c}'`).join(', ')})`,
      );
    }
    if (def.kind === 'append') o[def.dest].push(value);
    else o[def.dest] = value;
    return used;
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (rest || a === '-' || !a.startsWith('-') || isNegativeNumber(a)) {
      positionals.push(a);
      continue;
    }
    if (a === '--') {
      rest = true;
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a : a.slice(0, eq);
      const def = lookupLong(name, a);
      if (!def) {
        extras.push(a);
        continue;
      }
      i += apply(def, eq < 0 ? undefined : a.slice(eq + 1), argv[i + 1]);
      continue;
    }
    const def = SHORT.get(a.slice(0, 2));
    if (!def) {
      extras.push(a);
      continue;
    }
    if (a.length === 2) {
      i += apply(def, undefined, argv[i + 1]);
      continue;
    }
    if (def.kind === 'flag' || def.kind === 'count') {
      // combined short flags: -ud
      for (const ch of a.slice(1)) {
        const d = SHORT.get(`-${ch}`);
        if (!d || (d.kind !== 'flag' && d.kind !== 'count')) {
          throw new ArgparseError(`argument ${def.strings.join('/')}: ignored explicit argument '${a.slice(2)}'`);
        }
        apply(d, undefined, undefined);
      }
      continue;
    }
    i += apply(def, a.slice(2).replace(/^=/, ''), argv[i + 1]);
  }

  if (positionals.length === 0) throw new ArgparseError('the following arguments are required: action, volumes');
  const action = positionals[0];
  if (!ACTIONS.includes(action)) {
    throw new ArgparseError(
      `argument action: invalid choice: '${action}' (choose from ${ACTIONS.map((c) => `'${c}'`).join(', ')})`,
    );
  }
  if (extras.length > 0) throw new ArgparseError(`unrecognized arguments: ${extras.join(' ')}`);
  o.action = action.toLowerCase();
  o.volumes = positionals.slice(1);
  return o;
}

/** The checks Wyng's parse_options() makes after argparse; raises OptionError (exit 9). */
export function checkOptions(o, { admin }) {
  if (o.vols_from && !['send', 'monitor', 'receive', 'verify', 'diff'].includes(o.action)) {
    throw optionError(`vols-from cannot be used with ${o.action}`);
  }
  if ([...WRITE_ACTIONS, 'monitor'].includes(o.action) && !admin) {
    throw optionError(`Must be root/admin user for ${o.action}.`);
  }
  if (o.save_to && o.action !== 'receive') throw optionError('Receive required for save-to option.');
  if (
    !(o.volumes.length || o.all || o.import_other_from.length || o.vols_from) &&
    !['arch-init', 'arch-check', 'arch-deduplicate', 'list', 'delete', 'version'].includes(o.action)
  ) {
    throw optionError(`Volume name(s) or --all required for ${o.action}.`);
  }
  if (!['send', 'diff', 'arch-deduplicate'].includes(o.action)) o.dedup = false;
  if (o.action === 'arch-deduplicate') o.dedup = true;
  const mr = o.meta_reduce.split(':');
  if (!['off', 'on', 'extra'].includes(mr[0]) || mr.length !== 2 || !isNum(mr[1])) {
    throw optionError('Malformed --meta-reduce argument.');
  }
  o.unattended = o.unattended || !stdinIsTTY();
  return o;
}

/** Python float(val) succeeds. */
export function isNum(val) {
  if (typeof val !== 'string') return false;
  const t = val.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || /^[+-]?(inf|infinity|nan)$/i.test(t);
}
