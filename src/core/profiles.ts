/**
 * Profiles (`profiles.yaml`): named destinations and options — the only thing a remote caller
 * can name. This module is pure: the schema, error messages that name file, profile and field,
 * merging a profile under explicit options, and narrowing an RPC request against a profile's
 * `remote` permissions. Reading the file and the passphrase is in src/adapters/profiles.ts.
 */
import * as z from 'zod';
import { WqError } from './errors.ts';
import { AutopruneSchema, QubeNameSchema, type CommandName, type CommonOptions } from './options.ts';
import { printable } from './names.ts';
import { checkCalendar } from './calendar.ts';

/** Profile names double as qrexec arguments (docs/design.md "qrexec services"): a strict, lower-case grammar. */
export const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The RPC operations, i.e. the service names `wyng.<Operation>`. */
export const RPC_OPERATIONS = ['Backup', 'Restore', 'Verify', 'List', 'Prune', 'Status'] as const;
export type RpcOperation = (typeof RPC_OPERATIONS)[number];

/** Wyng options a profile may pass with `wyng_options` (without leading dashes). */
export const ALLOWED_WYNG_OPTIONS = [
  'apdays',
  'chunk-factor',
  'compression',
  'encrypt',
  'hashtype',
  'keep',
  'maxsync',
  'meta-reduce',
  'opt-qubes',
  'opt-ssh',
] as const;

const NO_CONTROL = /^[^\0-\x1f\x7f]*$/;

const AbsolutePath = z
  .string()
  .min(2)
  .max(4096)
  .regex(/^\//, 'must be an absolute path')
  .regex(NO_CONTROL, 'must not contain control characters');

/** A program and its arguments, run without a shell; the program is named by absolute path. */
const Argv = z
  .array(z.string().max(4096).regex(NO_CONTROL, 'must not contain control characters'))
  .min(1, 'must name a program')
  .max(64)
  .refine((argv) => argv[0]?.startsWith('/') === true, 'the program (first item) must be an absolute path');

const WyngUrl = z
  .string()
  .max(4096)
  .regex(
    /^(file:\/|ssh:\/\/|qubes:\/\/|qubes-ssh:\/\/)\S+$/,
    'must be a Wyng URL (file:/…, ssh://…, qubes://…, qubes-ssh://…)',
  );

const WyngOption = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}(=[^\0-\x1f\x7f]*)?$/, 'must look like name[=value] (without leading dashes)')
  .refine((opt) => (ALLOWED_WYNG_OPTIONS as readonly string[]).includes(opt.split('=')[0]!), {
    message: `only these Wyng options are allowed: ${ALLOWED_WYNG_OPTIONS.join(', ')}`,
  });

const ProfileOptionsSchema = z.strictObject({
  dedup: z.boolean().optional(),
  autoprune: AutopruneSchema.optional(),
  check_after_send: z.boolean().optional(),
  pool: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'pool name may contain only letters, digits, "_", "." and "-"')
    .optional(),
  authmin: z.number().int().min(-1).max(60).optional(),
  meta_dir: AbsolutePath.optional(),
  wyng_options: z.array(WyngOption).max(32).optional(),
  /** backup: add dom0's home (issue 19); never used by restore, never restored over rpc */
  dom0_home: z.boolean().optional(),
  dom0_user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Linux user name')
    .optional(),
  dom0_home_exclude: z.array(z.string().min(1).max(4096)).max(256).optional(),
});

const RemoteSchema = z.strictObject({
  operations: z.array(z.enum(RPC_OPERATIONS)).default([]),
  restore_qubes: z.array(QubeNameSchema).default([]),
  /** Restore may create a copy under a new name (`as`; issue 19): off unless the profile says so. */
  restore_as: z.boolean().default(false),
  /** Calling qubes this profile accepts; required for Restore and Prune (docs/design.md "qrexec services"). */
  callers: z.array(QubeNameSchema).optional(),
});

/** Restore approvals (issue 14): reach classes applied without a further approval. */
const RestoreSchema = z.strictObject({
  allow_rollback: z.boolean().optional(),
  allow_reach: z.array(z.enum(['devices', 'network', 'gui', 'tags', 'features', 'class', 'all'])).default([]),
  /** run remote and Salt restores from an archive Wyng does not authenticate (reach stays withheld) */
  trust_unauthenticated: z.boolean().default(false),
});

/** Fields used by scheduled runs (issue 9); validated here so a typo is caught early. */
const NotifySchema = z.strictObject({
  desktop: z.enum(['never', 'failure', 'always']).optional(),
  command: Argv.optional(),
});
const HooksSchema = z.strictObject({
  before: Argv.optional(),
  after: Argv.optional(),
  timeout_s: z.number().int().min(1).max(86_400).optional(),
});

export const ProfileSchema = z
  .strictObject({
    description: z.string().max(500).regex(NO_CONTROL, 'must not contain control characters').optional(),
    dest: WyngUrl,
    passphrase_file: AbsolutePath.optional(),
    passphrase_command: Argv.optional(),
    qubes: z.array(QubeNameSchema).max(1000).default([]),
    includes: z.boolean().default(false),
    exclude: z.array(QubeNameSchema).max(1000).default([]),
    options: ProfileOptionsSchema.default({}),
    remote: RemoteSchema.default({ operations: [], restore_qubes: [], restore_as: false }),
    schedule: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z0-9 *:,./~_+-]+$/, 'must be a systemd calendar expression')
      .optional(),
    notify: NotifySchema.optional(),
    hooks: HooksSchema.optional(),
    /**
     * Restore settings (issue 14): `allow_rollback` restores qubes older than dom0's backup record
     * (§5); `allow_reach` / `trust_unauthenticated` decide reach changes (§1, app/reach.ts).
     */
    restore: RestoreSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.passphrase_file !== undefined && p.passphrase_command !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['passphrase_command'],
        message: 'give passphrase_file or passphrase_command, not both',
      });
    }
    for (const q of p.remote.restore_qubes) {
      if (q === 'dom0')
        ctx.addIssue({ code: 'custom', path: ['remote', 'restore_qubes'], message: 'dom0 cannot be restored' });
    }
  });

export type Profile = z.output<typeof ProfileSchema>;

export const ProfilesFileSchema = z.strictObject({
  profiles: z.record(z.string(), z.unknown()).default({}),
});

export interface ProfilesFile {
  /** Where the profiles came from (for messages). */
  file: string;
  profiles: Record<string, Profile>;
}

/** One problem in profiles.yaml, located by profile and field. */
export interface ProfileProblem {
  profile?: string;
  field?: string;
  message: string;
}

function describeIssue(issue: z.core.$ZodIssue): { field: string | undefined; message: string } {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => [...path, k].join('.'));
    return { field: keys.join(', '), message: `unknown field${keys.length > 1 ? 's' : ''}` };
  }
  return { field: path.length > 0 ? path.join('.') : undefined, message: issue.message };
}

export function formatProblem(file: string, p: ProfileProblem): string {
  const where = [
    file,
    p.profile !== undefined ? `profile '${p.profile}'` : undefined,
    p.field !== undefined ? `field '${p.field}'` : undefined,
  ]
    .filter((x) => x !== undefined)
    .join(': ');
  return `${where}: ${p.message}`;
}

/**
 * Validates the parsed YAML document. Returns every problem (for `profiles check`); the
 * profiles that are valid are returned too.
 */
export function validateProfilesDocument(doc: unknown): {
  profiles: Record<string, Profile>;
  problems: ProfileProblem[];
} {
  const problems: ProfileProblem[] = [];
  const profiles: Record<string, Profile> = {};
  if (doc === undefined || doc === null)
    return { profiles, problems: [{ message: 'the file is empty (expected a "profiles:" mapping)' }] };
  const top = ProfilesFileSchema.safeParse(doc);
  if (!top.success) {
    for (const issue of top.error.issues) {
      const d = describeIssue(issue);
      problems.push({ ...(d.field !== undefined ? { field: d.field } : {}), message: d.message });
    }
    return { profiles, problems };
  }
  for (const [name, raw] of Object.entries(top.data.profiles)) {
    if (!PROFILE_NAME.test(name)) {
      problems.push({
        profile: printable(name),
        message: 'invalid profile name: use 1-64 of a-z, 0-9, "_", "-", starting with a letter or digit',
      });
      continue;
    }
    const parsed = ProfileSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const d = describeIssue(issue);
        problems.push({ profile: name, ...(d.field !== undefined ? { field: d.field } : {}), message: d.message });
      }
      continue;
    }
    profiles[name] = parsed.data;
  }
  return { profiles, problems };
}

/** Warnings about valid but probably unintended settings (shown by `profiles check`). */
export function profileWarnings(name: string, p: Profile): ProfileProblem[] {
  const out: ProfileProblem[] = [];
  const ops = p.remote.operations;
  for (const op of ['Restore', 'Prune'] as const) {
    if (ops.includes(op) && (p.remote.callers === undefined || p.remote.callers.length === 0)) {
      out.push({
        profile: name,
        field: 'remote.callers',
        message: `remote ${op} is refused until remote.callers names the calling qube(s)`,
      });
    }
  }
  if (ops.includes('Restore') && p.remote.restore_qubes.length === 0) {
    out.push({
      profile: name,
      field: 'remote.restore_qubes',
      message: 'remote Restore allows no qube until restore_qubes lists some',
    });
  }
  if (ops.includes('Backup') && p.qubes.length === 0 && !p.includes) {
    out.push({
      profile: name,
      field: 'qubes',
      message: 'remote Backup selects no qube (empty qubes and includes: false)',
    });
  }
  return out;
}

/**
 * What `profiles check` refuses in a valid-looking profile because `schedule enable` or a run
 * would refuse it: a schedule that is no systemd calendar expression, qubes that do not exist
 * (`liveQubes`: the qube names qubesd lists; undefined when qubesd could not be asked).
 * An excluded qube that does not exist is only a warning (it changes nothing).
 */
export function profileCheck(
  name: string,
  p: Profile,
  liveQubes: ReadonlySet<string> | undefined,
): { problems: ProfileProblem[]; warnings: ProfileProblem[] } {
  const problems: ProfileProblem[] = [];
  const warnings: ProfileProblem[] = [];
  if (p.schedule !== undefined) {
    const cal = checkCalendar(p.schedule);
    if (!cal.ok)
      problems.push({
        profile: name,
        field: 'schedule',
        message: `not a valid systemd calendar expression: ${cal.problem}; "schedule enable" refuses it`,
      });
  }
  if (liveQubes !== undefined) {
    for (const q of p.qubes)
      if (!liveQubes.has(q)) problems.push({ profile: name, field: 'qubes', message: `qube '${q}' does not exist` });
    for (const q of p.exclude)
      if (!liveQubes.has(q)) warnings.push({ profile: name, field: 'exclude', message: `qube '${q}' does not exist` });
  }
  return { problems, warnings };
}

/** What `profiles --json` shows of a profile: everything except where secrets come from. */
export function publicProfile(name: string, p: Profile): Record<string, unknown> {
  return {
    name,
    ...(p.description !== undefined ? { description: p.description } : {}),
    dest: p.dest,
    passphrase: p.passphrase_file !== undefined ? 'file' : p.passphrase_command !== undefined ? 'command' : 'none',
    qubes: p.qubes,
    includes: p.includes,
    exclude: p.exclude,
    options: p.options,
    remote: p.remote,
    ...(p.restore !== undefined ? { restore: p.restore } : {}),
    ...(p.schedule !== undefined ? { schedule: p.schedule } : {}),
    ...(p.notify !== undefined
      ? { notify: { desktop: p.notify.desktop ?? 'never', command: p.notify.command !== undefined } }
      : {}),
    ...(p.hooks !== undefined
      ? {
          hooks: {
            before: p.hooks.before !== undefined,
            after: p.hooks.after !== undefined,
            timeout_s: p.hooks.timeout_s,
          },
        }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Merging a profile under explicit options (CLI `--profile NAME`, library `profile`)

/** Commands a local `--profile` applies to (the others give `--profile` their own meaning). */
export const PROFILE_COMMANDS: ReadonlySet<CommandName> = new Set([
  'create',
  'backup',
  'restore',
  'verify',
  'prune',
  'delete',
  'list',
]);

/** The option keys a profile can supply. */
export const PROFILE_OPTION_KEYS = [
  'dest',
  'dedup',
  'autoprune',
  'checkAfterSend',
  'pool',
  'authmin',
  'metaDir',
  'wyngopt',
  'includes',
  'exclude',
  'allowRollback',
  'dom0Home',
  'dom0User',
  'dom0HomeExclude',
] as const;

/** Profile keys that only a backup takes (a profile never makes a restore extract dom0's home). */
const BACKUP_ONLY_KEYS: ReadonlySet<ProfileOptionKey> = new Set(['dom0Home', 'dom0User', 'dom0HomeExclude']);
export type ProfileOptionKey = (typeof PROFILE_OPTION_KEYS)[number];

/** The option values a profile stands for (only those it sets). */
export function profileOptionValues(p: Profile): Partial<Pick<CommonOptions, ProfileOptionKey>> {
  const o = p.options;
  const out: Partial<Pick<CommonOptions, ProfileOptionKey>> = {
    dest: p.dest,
    includes: p.includes,
    exclude: [...p.exclude],
  };
  if (o.dedup !== undefined) out.dedup = o.dedup;
  if (o.autoprune !== undefined) out.autoprune = o.autoprune;
  if (o.check_after_send !== undefined) out.checkAfterSend = o.check_after_send;
  if (o.pool !== undefined) out.pool = o.pool;
  if (o.authmin !== undefined) out.authmin = o.authmin;
  if (o.meta_dir !== undefined) out.metaDir = o.meta_dir;
  if (o.wyng_options !== undefined) out.wyngopt = [...o.wyng_options];
  if (p.restore?.allow_rollback !== undefined) out.allowRollback = p.restore.allow_rollback;
  if (o.dom0_home !== undefined) out.dom0Home = o.dom0_home;
  if (o.dom0_user !== undefined) out.dom0User = o.dom0_user;
  if (o.dom0_home_exclude !== undefined) out.dom0HomeExclude = [...o.dom0_home_exclude];
  return out;
}

/**
 * Profile values under explicit options: every option the caller gave explicitly (`explicit`)
 * wins; the profile fills the rest. Qube names: the caller's, else (backup, prune) the profile's.
 */
export function mergeProfile(
  command: CommandName,
  profile: Profile,
  options: CommonOptions,
  args: readonly string[],
  explicit: ReadonlySet<string>,
): { options: CommonOptions; args: string[] } {
  const merged: CommonOptions = { ...options };
  const values = profileOptionValues(profile);
  for (const key of PROFILE_OPTION_KEYS) {
    if (explicit.has(key) || (BACKUP_ONLY_KEYS.has(key) && command !== 'backup')) continue;
    const v = values[key];
    if (v !== undefined) (merged as Record<string, unknown>)[key] = v;
  }
  const qubes = args.length === 0 && (command === 'backup' || command === 'prune') ? [...profile.qubes] : [...args];
  return { options: merged, args: qubes };
}

// ---------------------------------------------------------------------------------------------
// RPC requests and narrowing

/** A session as an RPC request may name it: one id, or (prune) an inclusive range. */
const RequestSessionSchema = z
  .string()
  .regex(/^\d{8}-\d{6}(,\d{8}-\d{6})?$/, 'session must be YYYYMMDD-HHMMSS[,YYYYMMDD-HHMMSS]');

/** The JSON document a remote caller sends on stdin. Unknown keys are refused. */
export const RpcRequestSchema = z.strictObject({
  qubes: z.array(QubeNameSchema).max(256).optional(),
  exclude: z.array(QubeNameSchema).max(256).optional(),
  session: RequestSessionSchema.optional(),
  dryRun: z.boolean().optional(),
  includeDisposable: z.boolean().optional(),
  /** Restore: refuse unless the plan's digest is this one (from an earlier dry run); it only narrows. */
  expectPlan: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expectPlan must be a plan digest (64 lowercase hex digits)')
    .optional(),
  /** Restore the one named qube alongside under this new name (only with `remote.restore_as: true`). */
  as: QubeNameSchema.optional(),
});
export type RpcRequest = z.output<typeof RpcRequestSchema>;

/** Which request fields each operation accepts at all. */
const ACCEPTED_FIELDS: Record<RpcOperation, ReadonlySet<keyof RpcRequest>> = {
  Backup: new Set(['qubes', 'exclude']),
  Restore: new Set(['qubes', 'exclude', 'session', 'dryRun', 'includeDisposable', 'expectPlan', 'as']),
  Verify: new Set(['qubes', 'exclude', 'session', 'includeDisposable']),
  List: new Set(['qubes', 'session', 'includeDisposable']),
  Prune: new Set(['qubes', 'session']),
  Status: new Set([]),
};

export const OPERATION_COMMAND: Record<Exclude<RpcOperation, 'Status'>, CommandName> = {
  Backup: 'backup',
  Restore: 'restore',
  Verify: 'verify',
  List: 'list',
  Prune: 'prune',
};

/** What a narrowed request runs: a library command with explicit options, or the status report. */
export type RpcPlan =
  | { operation: 'Status' }
  | {
      operation: Exclude<RpcOperation, 'Status'>;
      command: CommandName;
      /** Explicit options (library form, `qubes` = positional names); the profile fills the rest. */
      options: {
        qubes: string[];
        includes?: boolean;
        exclude?: string[];
        session?: string;
        dryRun?: boolean;
        includeDisposable?: boolean;
        expectPlan?: string;
        as?: string;
      };
    };

const DESTRUCTIVE: ReadonlySet<RpcOperation> = new Set(['Restore', 'Prune']);

function forbidden(message: string): WqError {
  return new WqError('forbidden', message);
}

/**
 * Narrows a validated request against the profile's `remote` permissions. Everything outside
 * them is refused here, before Wyng or qubesd is touched. `caller` is QREXEC_REMOTE_DOMAIN.
 *
 * Rules: the operation must be listed in `remote.operations`; `remote.callers`, when given,
 * must list the caller, and Restore/Prune need it (dom0 itself always passes); Backup may
 * only pick qubes from the profile's `qubes`; Restore only from `remote.restore_qubes`
 * (all of them when the request names none); Verify, List and Prune work on the profile's
 * archive and may name any qube in it (Verify without names: the profile's `qubes`, if any).
 * `exclude` only ever removes qubes.
 */
export function narrowRequest(
  op: RpcOperation,
  name: string,
  profile: Profile,
  request: RpcRequest,
  caller: string,
): RpcPlan {
  const remote = profile.remote;
  if (!remote.operations.includes(op)) throw forbidden(`Profile '${name}' does not allow remote ${op}.`);
  if (caller !== 'dom0') {
    if (remote.callers !== undefined && !remote.callers.includes(caller)) {
      throw forbidden(`Profile '${name}' does not accept calls from qube '${caller}'.`);
    }
    if (DESTRUCTIVE.has(op) && (remote.callers === undefined || remote.callers.length === 0)) {
      throw forbidden(
        `Profile '${name}' allows remote ${op} only for the qubes listed in remote.callers, and lists none.`,
      );
    }
  }
  const accepted = ACCEPTED_FIELDS[op];
  for (const key of Object.keys(request) as (keyof RpcRequest)[]) {
    if (request[key] !== undefined && !accepted.has(key)) {
      throw new WqError('input', `Field '${key}' is not accepted by wyng.${op}.`);
    }
  }
  if (request.session?.includes(',') === true && op !== 'Prune') {
    throw new WqError('input', `A session range is only accepted by wyng.Prune.`);
  }
  if (op === 'Status') return { operation: 'Status' };

  const requested = request.qubes === undefined ? undefined : [...new Set(request.qubes)];
  const exclude = [...new Set(request.exclude ?? [])];
  const command = OPERATION_COMMAND[op];
  switch (op) {
    case 'Backup': {
      if (requested !== undefined) {
        const outside = requested.filter((q) => !profile.qubes.includes(q));
        if (outside.length > 0) throw forbidden(`Not in profile '${name}': ${outside.join(', ')}.`);
        if (requested.length === 0) throw new WqError('input', 'The request names an empty list of qubes.');
        return {
          operation: op,
          command,
          options: { qubes: requested, includes: false, exclude: [...new Set([...profile.exclude, ...exclude])] },
        };
      }
      return {
        operation: op,
        command,
        options: {
          qubes: [...profile.qubes],
          includes: profile.includes,
          exclude: [...new Set([...profile.exclude, ...exclude])],
        },
      };
    }
    case 'Restore': {
      if (remote.restore_qubes.length === 0) throw forbidden(`Profile '${name}' allows restoring no qubes.`);
      if (requested !== undefined) {
        const outside = requested.filter((q) => !remote.restore_qubes.includes(q));
        if (outside.length > 0) throw forbidden(`Profile '${name}' does not allow restoring: ${outside.join(', ')}.`);
      }
      const qubes = (requested ?? remote.restore_qubes).filter((q) => !exclude.includes(q));
      if (qubes.length === 0) throw new WqError('input', 'The request leaves no qube to restore.');
      if (request.as !== undefined && remote.restore_as !== true)
        throw forbidden(`Profile '${name}' does not allow restoring under a new name (remote.restore_as).`);
      if (request.as !== undefined && (requested === undefined || qubes.length !== 1))
        throw new WqError('input', '"as" needs exactly one qube in "qubes".');
      return {
        operation: op,
        command,
        options: {
          qubes,
          ...(request.session !== undefined ? { session: request.session } : {}),
          ...(request.dryRun !== undefined ? { dryRun: request.dryRun } : {}),
          ...(request.includeDisposable !== undefined ? { includeDisposable: request.includeDisposable } : {}),
          ...(request.expectPlan !== undefined ? { expectPlan: request.expectPlan } : {}),
          ...(request.as !== undefined ? { as: request.as } : {}),
        },
      };
    }
    case 'Verify': {
      if (requested !== undefined && requested.length === 0)
        throw new WqError('input', 'The request names an empty list of qubes.');
      // No names: the profile's qubes (when it lists any), else the whole session minus exclude.
      const excluded = [...new Set([...profile.exclude, ...exclude])];
      const qubes = (requested ?? profile.qubes).filter((q) => !excluded.includes(q));
      if ((requested !== undefined || profile.qubes.length > 0) && qubes.length === 0) {
        throw new WqError('input', 'The request leaves no qube to verify.');
      }
      return {
        operation: op,
        command,
        options: {
          qubes,
          exclude: excluded,
          ...(request.session !== undefined ? { session: request.session } : {}),
          ...(request.includeDisposable !== undefined ? { includeDisposable: request.includeDisposable } : {}),
        },
      };
    }
    case 'List':
    case 'Prune':
      if (requested !== undefined && requested.length === 0)
        throw new WqError('input', 'The request names an empty list of qubes.');
      return {
        operation: op,
        command,
        options: {
          qubes: requested ?? [],
          ...(request.session !== undefined ? { session: request.session } : {}),
          ...(request.includeDisposable !== undefined ? { includeDisposable: request.includeDisposable } : {}),
        },
      };
  }
}
