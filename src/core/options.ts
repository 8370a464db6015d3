import * as z from 'zod';
import { qubeNameProblem } from './names.ts';

export { COMMANDS, EXTRA_COMMANDS, REFERENCE_COMMANDS, type CommandName } from './commands.ts';

export const QubeNameSchema = z.string().superRefine((name, ctx) => {
  const problem = qubeNameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid qube name '${name}': ${problem}` });
});

/** `S` or `S1,S2` (inclusive range), or `newest`, or `^tag`, as Wyng accepts for --session. */
export const SessionSpecSchema = z
  .string()
  .regex(
    /^(\d{8}-\d{6}(,\d{8}-\d{6})?|newest|\^[a-z0-9_.-]{1,25})$/,
    'session must be YYYYMMDD-HHMMSS[,YYYYMMDD-HHMMSS]',
  );

/** `--pref NAME::x` — skip that property on restore. */
export const PrefSpecSchema = z.string().regex(/^[a-z_][a-z0-9_]{0,63}::x$/, 'pref must look like NAME::x');

/** `-w OPT[=VAL]` — passed to Wyng as `--OPT[=VAL]`. */
export const WyngOptSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}(=[^\0\n]*)?$/, 'wyng option must look like name[=value] (without leading dashes)');

export const AutopruneSchema = z.enum(['off', 'on', 'full']);

/**
 * The options every command understands (README "Usage", docs/wyng-qubes.1.md).
 * This is the trust boundary for the command line, the library API and RPC requests.
 */
export const CommonOptionsSchema = z
  .object({
    dest: z.string().min(1).max(4096).optional(),
    authmin: z.number().int().min(-1).max(60).optional(),
    session: SessionSpecSchema.optional(),
    dedup: z.boolean().default(false),
    includes: z.boolean().default(false),
    exclude: z.array(QubeNameSchema).default([]),
    checkAfterSend: z.boolean().default(false),
    autoprune: AutopruneSchema.optional(),
    allBefore: z.boolean().default(false),
    all: z.boolean().default(false),
    pref: z.array(PrefSpecSchema).default([]),
    poolInfo: z.boolean().default(false),
    pool: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'pool name may contain only letters, digits, "_", "." and "-"')
      .optional(),
    wyng: z.string().min(1).optional(),
    wyngopt: z.array(WyngOptSchema).default([]),
    noSnapshotRestore: z.boolean().default(false),
    noAutoRename: z.boolean().default(false),
    noQubesPost: z.boolean().default(false),
    includeDisposable: z.boolean().default(false),
    remap: z.boolean().default(false),
    forceIncomplete: z.boolean().default(false),
    unattended: z.boolean().default(true),
    verbose: z.boolean().default(false),
    debug: z.boolean().default(false),
    metaDir: z.string().min(1).optional(),
    json: z.boolean().default(false),
    dryRun: z.boolean().default(false),
    ignoreMissing: z.boolean().default(false),
    /** restore: reach classes approved on the dom0 command line (issue 14; core/restore/reach.ts) */
    allowReach: z.array(z.enum(['devices', 'network', 'gui', 'tags', 'features', 'class', 'all'])).default([]),
    /** restore: run from an archive Wyng does not authenticate (its reach changes stay withheld) */
    trustUnauthenticated: z.boolean().default(false),
    /** `restore QUBE --as NEW`: restore alongside under a new name (issue 19). */
    as: QubeNameSchema.optional(),
    /** `restore --rename-conflicting`: a live namesake of another class keeps its name; ours becomes NAME1… */
    renameConflicting: z.boolean().default(false),
    /** `--ignore-space`: go on although the space pre-flight finds too little free space. */
    ignoreSpace: z.boolean().default(false),
    /** backup: add dom0's home as its own volume; restore: extract it to ~/home-restore-SESSION (issue 19). */
    dom0Home: z.boolean().default(false),
    /** whose home (default: SUDO_USER) */
    dom0User: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'dom0 user must be a Linux user name')
      .optional(),
    /** paths inside the home left out of its tar (default: .cache) */
    dom0HomeExclude: z.array(z.string().min(1).max(4096)).default([]),
    profile: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'profile name may contain only letters, digits, "_" and "-"')
      .optional(),
    progress: z.enum(['json']).optional(),
    /** `restore --expect-plan=DIGEST`: refuse unless the plan's digest (`--dry-run --json`) is this one. */
    expectPlan: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expect-plan must be a plan digest (64 lowercase hex digits)')
      .optional(),
    /** `restore --dry-run --keep-plan`: keep what the plan was made from; the result names it (`planId`). */
    keepPlan: z.boolean().default(false),
    /**
     * `restore --from-plan=ID --expect-plan=DIGEST`: use a kept plan's Wyng list and metadata instead of
     * fetching them again (dom0 only: no RPC request carries it; adapters/plan-cache.ts).
     */
    fromPlan: z
      .string()
      .regex(/^[0-9a-f]{32}$/, "from-plan must be a plan id (32 lowercase hex digits, the dry run's planId)")
      .optional(),
    /** `restore --allow-rollback`: restore a qube even when dom0's record shows a newer or different backup. */
    allowRollback: z.boolean().default(false),
    /** `report --last`. */
    last: z.boolean().default(false),
  })
  .strict();

export type CommonOptions = z.output<typeof CommonOptionsSchema>;
export type CommonOptionsInput = z.input<typeof CommonOptionsSchema>;

/** Names of the properties skipped by `--pref NAME::x`. */
export function skippedPrefs(options: Pick<CommonOptions, 'pref'>): Set<string> {
  return new Set(options.pref.map((p) => p.slice(0, -'::x'.length)));
}

/** One-line, user-facing summary of a zod error. */
export function describeZodError(error: z.ZodError, what = 'option'): string {
  const issue = error.issues[0];
  if (issue === undefined) return `invalid ${what}`;
  const keys = issue.path.filter((k): k is string => typeof k === 'string');
  // An option is named as the user typed it (`--session`), an array index of a repeatable one dropped.
  const path =
    what === 'option' && keys.length > 0
      ? `--${keys.join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
      : issue.path.length > 0
        ? issue.path.join('.')
        : what;
  // "session must be …" under path "session": the message names it already, so the name is said once.
  const last = keys[keys.length - 1];
  if (last !== undefined && issue.message.startsWith(`${last} `)) return `${path}${issue.message.slice(last.length)}`;
  return `${path}: ${issue.message}`;
}
