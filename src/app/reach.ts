// Who may apply a restore's reach changes (issue 14 §1; docs/design.md "Reach"). The classification
// is pure (core/restore/reach.ts); this module decides, from the archive's authentication, who
// started the run and the approvals given, which reach changes a restore applies and which it
// withholds, and refuses the unattended runs that must not read an unauthenticated archive.
import { WqError, type ErrorRecord } from '../core/errors.ts';
import { printable } from '../core/names.ts';
import type { SettingsDiff } from '../core/restore/diff.ts';
import type { QubeOutcome } from '../core/restore/apply.ts';
import type { PlannedQube, RestorePlan } from '../core/restore/plan.ts';
import {
  classifyQube,
  isApproved,
  withholdFromDiff,
  type ClassifiedChange,
  REACH_CLASSES,
  type ReachApproval,
  type ReachClass,
  type ReachContext,
  splitPlan,
  type SplitPlan,
} from '../core/restore/reach.ts';
import type { AppContext } from './ports.ts';

export interface ReachAuthority {
  /** Wyng lists the archive as encrypted and authenticated */
  authenticated: boolean;
  /** `rpc`, `salt`, `cli`, `timer`, `library` … */
  source: string;
  /** the approvals in force (every class when the archive is authenticated and dom0 runs the restore) */
  approvals: Set<ReachApproval>;
  /** where the approvals came from, for the plan and the report */
  approvedBy: string;
}

/**
 * Decides the approvals of one restore, or refuses it: a remote (`rpc`) or Salt restore from an
 * unauthenticated archive unless the profile (or the Salt state) trusts it; an unattended dom0
 * CLI restore from one unless `--allow-reach` or `--trust-unauthenticated` is given. A remote
 * caller never approves anything itself: only its profile does.
 */
export function reachAuthority(
  ctx: AppContext,
  archive: { encrypted?: boolean | undefined; authenticated?: boolean | undefined },
): ReachAuthority {
  const source = ctx.origin?.source ?? 'cli';
  const remote = source === 'rpc';
  const authenticated = archive.encrypted === true && archive.authenticated === true;
  const fromProfile = ctx.profile?.restore?.allow_reach ?? [];
  const fromOptions = remote ? [] : ctx.options.allowReach;
  const profileTrusts = ctx.profile?.restore?.trust_unauthenticated === true;
  if (!authenticated) {
    const what = 'The archive is not authenticated by Wyng (unencrypted, or its list does not say authenticated)';
    if (remote || source === 'salt') {
      const trusted = profileTrusts || (!remote && ctx.options.trustUnauthenticated);
      if (!trusted && !ctx.options.dryRun) {
        throw new WqError(
          'forbidden',
          `${what}: a ${remote ? 'remote' : 'Salt'} restore from it is refused. ` +
            (remote
              ? "Set 'restore: {trust_unauthenticated: true}' in the profile to allow it."
              : "Set 'trust_unauthenticated: True' in the state (or the profile's restore section) to allow it."),
        );
      }
    } else {
      ctx.warn(`Warning: ${what}; its metadata may have been changed by whoever holds the storage.`);
      const trusted = ctx.options.trustUnauthenticated || profileTrusts || fromOptions.length > 0;
      if (ctx.options.unattended && !trusted && !ctx.options.dryRun) {
        throw new WqError(
          'forbidden',
          `${what}: an unattended restore from it needs --trust-unauthenticated (reach changes withheld) ` +
            'or --allow-reach=CLASS (those applied).',
        );
      }
    }
  }
  if (authenticated && !remote) {
    return { authenticated, source, approvals: new Set(['all']), approvedBy: 'authenticated archive, run by dom0' };
  }
  const approvals = new Set<ReachApproval>([...fromProfile, ...fromOptions]);
  const by = [
    ...(fromOptions.length > 0 ? [`--allow-reach=${fromOptions.join(',')}`] : []),
    ...(fromProfile.length > 0 ? [`profile restore.allow_reach: [${fromProfile.join(', ')}]`] : []),
  ];
  return { authenticated, source, approvals, approvedBy: by.join(' and ') || 'nothing' };
}

export interface PlannedReach {
  /** the plan this run carries out: unapproved reach changes removed (a withheld class change skips the qube) */
  plan: RestorePlan;
  /** what applyRestore gets: the plan without the qubes it skips */
  toApply: RestorePlan;
  split: SplitPlan;
  restrict: (name: string, diff: SettingsDiff) => SettingsDiff;
  /** human lines ('' when the plan has no reach change) */
  text: string;
  /** the plan for `--json`: each qube with its reach changes (`reach`, each `applied` or not) and `withheld` */
  json: unknown;
  summary: { authenticated: boolean; approvedBy: string; approvals: ReachApproval[]; needed: ReachClass[] };
  /** one record per qube with withheld changes (exit 2) */
  errors: ErrorRecord[];
  /** apply's outcomes with the skipped qubes and each qube's withheld changes */
  outcomes(applied: QubeOutcome[]): (QubeOutcome & { withheld?: ClassifiedChange[] })[];
}

/** Splits a restore plan by the run's authority: everything restore.ts needs about reach. */
export function planReach(full: RestorePlan, authority: ReachAuthority, globals: Record<string, string>): PlannedReach {
  const reachCtx: ReachContext = { globals };
  const split = splitPlan(full, authority.approvals, reachCtx);
  // the planner's role warnings ("becomes a network provider (provides_network=True)") of withheld roles
  const plan: RestorePlan = {
    ...split.applied,
    qubes: split.applied.qubes.map((q) => {
      const held = new Set((split.withheld[q.name] ?? []).filter((c) => c.kind === 'property').map((c) => c.key));
      if (held.size === 0) return q;
      return { ...q, problems: q.problems.filter((p) => ![...held].some((k) => p.message.endsWith(`(${k}=True).`))) };
    }),
  };
  const skipped = new Set(plan.qubes.filter((q) => q.action === 'skip').map((q) => q.name));
  const toApply: RestorePlan = {
    ...plan,
    qubes: plan.qubes.filter((q) => !skipped.has(q.name)),
    order: plan.order.filter((n) => !skipped.has(n)),
  };
  const entries = reachOfPlan(full, authority, reachCtx);
  const byQube = new Map(entries.map((e) => [e.qube, e.reach]));
  return {
    plan,
    toApply,
    split,
    restrict: reachFilter(full, authority, reachCtx),
    text: renderReach(entries, authority),
    json: {
      ...plan,
      qubes: plan.qubes.map((q) => ({ ...q, reach: byQube.get(q.name) ?? [], withheld: split.withheld[q.name] ?? [] })),
    },
    summary: {
      authenticated: authority.authenticated,
      approvedBy: authority.approvedBy,
      approvals: [...authority.approvals],
      needed: split.needed,
    },
    errors: withheldErrors(split, authority),
    outcomes: (applied) => [
      ...applied.map((o) => (split.withheld[o.name] ? { ...o, withheld: split.withheld[o.name]! } : o)),
      ...[...skipped].map((name) => ({
        name,
        status: 'skipped' as const,
        changes: 0,
        withheld: split.withheld[name] ?? [],
      })),
    ],
  };
}

/**
 * The filter apply uses on every diff it (re)computes: a created qube's diff is computed again
 * after it exists, and the verification diff too; unapproved reach changes never enter either.
 */
export function reachFilter(
  plan: RestorePlan,
  authority: ReachAuthority,
  reachCtx: ReachContext,
): (name: string, diff: SettingsDiff) => SettingsDiff {
  const byName = new Map(plan.qubes.map((q) => [q.name, q]));
  return (name, diff) => {
    const q = byName.get(name);
    if (q === undefined) return diff;
    const held = classifyQube({ ...q, changes: diff }, reachCtx).reach.filter(
      (c) => !isApproved(c, authority.approvals),
    );
    return held.length === 0 ? diff : withholdFromDiff(diff, held);
  };
}

/** The approval that would apply `needed`, as the person deciding would give it. */
export function approvalHint(needed: readonly ReachClass[], remote: boolean): string {
  const list = needed.join(', ');
  const profile = `profile 'restore: { allow_reach: [${list}] }'`;
  return remote ? profile : `--allow-reach=${needed.join(',')} or ${profile}`;
}

/** One error record per qube whose reach changes were withheld (the qube is not fully restored). */
export function withheldErrors(split: SplitPlan, authority: ReachAuthority): ErrorRecord[] {
  return Object.entries(split.withheld).map(([qube, held]) => {
    const classes = REACH_CLASSES.filter((k) => held.some((c) => c.reach === k));
    return {
      qube,
      kind: 'qubes-failed' as const,
      message:
        `${held.length} reach change(s) withheld (${held.map((c) => describe(c)).join('; ')}); ` +
        `they need ${approvalHint(classes, authority.source === 'rpc')}.`,
    };
  });
}

function describe(c: ClassifiedChange): string {
  return printable(`${c.kind} ${c.key}`, 200);
}

/** Per qube, its reach changes with whether each is applied (for the plan and `--json`). */
export function reachOfPlan(
  plan: RestorePlan,
  authority: ReachAuthority,
  reachCtx: ReachContext,
): { qube: string; reach: (ClassifiedChange & { applied: boolean })[] }[] {
  return plan.qubes
    .map((q: PlannedQube) => ({
      qube: q.name,
      reach: classifyQube(q, reachCtx).reach.map((c) => ({ ...c, applied: isApproved(c, authority.approvals) })),
    }))
    .filter((e) => e.reach.length > 0);
}

/** Human lines: the reach changes per qube, with why each is reach and whether it is applied. */
export function renderReach(entries: ReturnType<typeof reachOfPlan>, authority: ReachAuthority): string {
  if (entries.length === 0) return '';
  const lines = [`\nReach changes (they act beyond the qube itself; approved by: ${authority.approvedBy}):`];
  for (const e of entries) {
    lines.push(`  ${e.qube}:`);
    for (const c of e.reach) {
      lines.push(
        `      ${c.applied ? 'apply   ' : 'WITHHELD'} [${c.reach ?? ''}] ` +
          printable(`${c.kind} ${c.key}: ${c.reason}`, 300),
      );
    }
  }
  return lines.join('\n');
}
