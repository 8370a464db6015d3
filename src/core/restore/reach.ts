// Reach: which planned changes act beyond the qube itself (issue 14 §1). Pure.
//
// Every change of a qube's restore plan is either
// - own: it affects only the qube (label, memory, vcpus, kernelopts, its own `service.*`
//   features, notes, its volumes' data, firewall rules that only narrow, …), or
// - reach: it gives the qube power over other qubes, hardware, the GUI or dom0 policy. Reach
//   changes are applied only where someone with the right to decide approved them; each falls
//   in one approval class (`--allow-reach=CLASS`, profile `restore.allow_reach`):
//     devices  device assignments, devices_denied
//     network  netvm, provides_network, a widening firewall, relayvm / transport_rpc / remote_name
//     gui      guivm, audiovm
//     tags     every tag (qrexec policy matches tags)
//     features features that change how dom0 or other qubes treat the qube
//     class    the qube's kind and role: a class change, template_for_dispvms, default_dispvm,
//              management_dispvm, kernel, virt_mode, debug, properties this table does not know
//   `all` approves every class.
// Creating a missing qube is own; its reach settings are reach as for an existing qube (a new
// qube has no network, devices, tags or roles to begin with).
// Anything the table does not name is reach (fail closed): a property or feature qubesd gains
// later must be reviewed and added here before a restore writes it unapproved.
import { deviceKey, diffSize, emptyDiff, type SettingsDiff } from './diff.ts';
import type { PlannedQube, RestorePlan } from './plan.ts';

import { REACH_CLASSES, type ReachApproval, type ReachClass } from '../reach-approvals.ts';
export {
  parseReachApprovals,
  REACH_APPROVALS,
  REACH_CLASSES,
  type ReachApproval,
  type ReachClass,
} from '../reach-approvals.ts';

export type ChangeKind =
  'class' | 'label' | 'template' | 'property' | 'feature' | 'tag' | 'device' | 'firewall' | 'notes';

export interface ClassifiedChange {
  kind: ChangeKind;
  /** what the change is about: property/feature name, tag, `assign|<device key>`, … */
  key: string;
  scope: 'own' | 'reach';
  /** the approval class of a reach change; null for own changes */
  reach: ReachClass | null;
  /** why this change is reach (or own) — shown to the person deciding */
  reason: string;
}

export interface QubeReach {
  qube: string;
  own: ClassifiedChange[];
  reach: ClassifiedChange[];
}

export interface ReachContext {
  /** live global properties (default_netvm, default_dispvm, …): what a reset-to-default means */
  globals: Readonly<Record<string, string>>;
}

type Rule = { scope: 'own' } | { scope: 'reach'; reach: ReachClass };
const OWN: Rule = { scope: 'own' };
const reach = (c: ReachClass): Rule => ({ scope: 'reach', reach: c });

/**
 * Properties: one row per property a restore may write (the rest of the property table is
 * never restored, see RESTORE_EXCLUDED_PROPERTIES). Reference properties that only sometimes
 * reach (netvm, default_dispvm) are decided in `classifyProperty`.
 */
const PROPERTY_RULES: Readonly<Record<string, { rule: Rule; why: string }>> = {
  // the qube's own look and resources
  label: { rule: OWN, why: 'the colour of its own windows' },
  memory: { rule: OWN, why: 'its own initial memory' },
  maxmem: { rule: OWN, why: 'its own memory ceiling' },
  vcpus: { rule: OWN, why: 'its own CPU count' },
  kernelopts: { rule: OWN, why: 'options of its own kernel command line' },
  bootmode: { rule: OWN, why: 'which of its own boot modes it starts in' },
  appvm_default_bootmode: { rule: OWN, why: 'the boot mode of qubes based on it, inside them' },
  default_user: { rule: OWN, why: 'the user commands run as inside the qube' },
  qrexec_timeout: { rule: OWN, why: 'how long its own start waits for qrexec' },
  shutdown_timeout: { rule: OWN, why: 'how long its own shutdown may take' },
  autostart: { rule: OWN, why: 'whether it starts at boot' },
  include_in_backups: { rule: OWN, why: 'whether it is backed up' },
  keyboard_layout: { rule: OWN, why: 'its own keyboard layout' },
  auto_cleanup: { rule: OWN, why: 'whether the disposable is removed when it stops' },
  // the template only decides the qube's own root file system
  template: { rule: OWN, why: 'its own root file system comes from another template' },
  // network: reaches other qubes' traffic or the outside
  provides_network: {
    rule: reach('network'),
    why: 'qubes using it as netvm send all their traffic through it',
  },
  relayvm: { rule: reach('network'), why: "decides which qube carries this remote qube's calls" },
  transport_rpc: { rule: reach('network'), why: "decides the qrexec service carrying this remote qube's calls" },
  remote_name: { rule: reach('network'), why: 'decides which remote qube calls are sent to' },
  // GUI and audio: the qube rendering its windows / carrying its sound sees them
  guivm: { rule: reach('gui'), why: "the qube it names draws this qube's windows and reads its input" },
  audiovm: { rule: reach('gui'), why: "the qube it names hears this qube's audio and microphone" },
  // devices
  devices_denied: { rule: reach('devices'), why: 'decides which devices the qube may be given' },
  // role and kind
  template_for_dispvms: {
    rule: reach('class'),
    why: 'makes it a disposable template: other qubes can start disposables from it',
  },
  management_dispvm: {
    rule: reach('class'),
    why: 'the disposable it names manages this qube with Admin API rights',
  },
  kernel: { rule: reach('class'), why: 'dom0 boots the qube with a different dom0-provided kernel' },
  virt_mode: { rule: reach('class'), why: 'changes how Xen isolates the qube (and whether it can hold PCI devices)' },
  debug: { rule: reach('class'), why: 'debug mode exposes the qube console and keeps it from being cleaned up' },
};

/** Global property a reset reference follows (qubesd default rule). */
const GLOBAL_DEFAULT: Readonly<Record<string, string>> = { netvm: 'default_netvm', default_dispvm: 'default_dispvm' };

/** The qube a reference property effectively names (after defaults); '' = none, undefined = unknown. */
function effective(prop: string, value: string | null, ctx: ReachContext): string | undefined {
  if (value !== null) return value;
  const g = GLOBAL_DEFAULT[prop];
  return g === undefined ? undefined : ctx.globals[g];
}

function classifyProperty(
  q: PlannedQube,
  name: string,
  from: string | null,
  to: string | null,
  ctx: ReachContext,
): { rule: Rule; why: string } {
  if (name === 'netvm' || name === 'default_dispvm') {
    const before = q.action === 'overwrite' ? effective(name, from, ctx) : '';
    const after = effective(name, to, ctx);
    const what = name === 'netvm' ? 'network' : 'disposables';
    if (after === '') return { rule: OWN, why: `it takes ${what} away from the qube only` };
    if (after !== undefined && after === before) return { rule: OWN, why: `it keeps the ${what} qube it uses today` };
    if (name === 'netvm') {
      return {
        rule: reach('network'),
        why:
          before === '' || before === undefined
            ? `gives network to a qube that has none (through '${after ?? 'the default'}')`
            : `moves its network off '${before}' to '${after ?? 'the default'}'`,
      };
    }
    return {
      rule: reach('class'),
      why: `its disposables would start from '${after ?? 'the default'}', a qube it did not use`,
    };
  }
  const row = PROPERTY_RULES[name];
  if (row !== undefined) return row;
  return { rule: reach('class'), why: 'a property this version does not classify: approval required' };
}

/** Features: prefix rows first match wins; names ending in `*` are prefixes. */
const FEATURE_RULES: readonly { pattern: string; rule: Rule; why: string }[] = [
  // services started inside the qube itself (qvm-service)
  { pattern: 'service.*', rule: OWN, why: 'a service inside the qube' },
  { pattern: 'supported-service.*', rule: OWN, why: "reported by the qube's own agent" },
  { pattern: 'supported-feature.*', rule: OWN, why: "reported by the qube's own agent" },
  { pattern: 'vm-config.*', rule: OWN, why: 'configuration handed into the qube only' },
  { pattern: 'boot-mode.*', rule: OWN, why: 'its own boot modes' },
  { pattern: 'os', rule: OWN, why: 'describes the qube' },
  { pattern: 'os-*', rule: OWN, why: 'describes the qube' },
  { pattern: 'template-*', rule: OWN, why: 'describes the template the qube came from' },
  { pattern: 'menu-items', rule: OWN, why: 'its own menu entries' },
  { pattern: 'default-menu-items', rule: OWN, why: 'menu entries of qubes made from it' },
  { pattern: 'updates-available', rule: OWN, why: 'update notice for the qube' },
  { pattern: 'last-updates-check', rule: OWN, why: 'update notice for the qube' },
  { pattern: 'skip-update', rule: OWN, why: 'whether the qube is updated' },
  { pattern: 'prohibit-start', rule: OWN, why: 'keeps the qube from starting' },
  { pattern: 'video-model', rule: OWN, why: 'its own emulated video card' },
  { pattern: 'audio-model', rule: OWN, why: 'its own emulated sound card' },
  { pattern: 'no-monitor-layout', rule: OWN, why: 'its own screen layout' },
  // how dom0 and other qubes treat the qube
  { pattern: 'servicevm', rule: reach('features'), why: 'marks it a service qube (dom0 treats it as infrastructure)' },
  { pattern: 'internal', rule: reach('features'), why: 'hides it from the user in dom0 tools' },
  { pattern: 'appmenus-dispvm', rule: reach('features'), why: "dom0's menus start disposables from it" },
  { pattern: 'gui', rule: reach('features'), why: 'changes how dom0 shows its windows' },
  { pattern: 'gui-*', rule: reach('features'), why: "changes the GUI daemon's trust in it (fullscreen, emulation, …)" },
  { pattern: 'qrexec*', rule: reach('features'), why: 'changes how qrexec treats its calls' },
  { pattern: 'stubdom-qrexec', rule: reach('features'), why: 'qrexec into its device model' },
  { pattern: 'input-dom0-proxy', rule: reach('features'), why: "dom0's input devices are proxied to it" },
  { pattern: 'audio-*', rule: reach('features'), why: 'changes audio routing through other qubes' },
  { pattern: 'net.*', rule: reach('features'), why: 'network configuration other qubes see' },
  { pattern: 'ipv6', rule: reach('features'), why: 'gives IPv6 to the qubes it serves' },
];

function classifyFeature(name: string): { rule: Rule; why: string } {
  for (const row of FEATURE_RULES) {
    const match = row.pattern.endsWith('*') ? name.startsWith(row.pattern.slice(0, -1)) : name === row.pattern;
    if (match) return row;
  }
  return { rule: reach('features'), why: 'a feature this version does not classify: approval required' };
}

/** The rule's action: `action=accept` → 'accept', …; undefined = malformed. */
function ruleAction(rule: string): 'accept' | 'drop' | undefined {
  const m = /(?:^| )action=(accept|drop)(?: |$)/.exec(rule);
  return m ? (m[1] as 'accept' | 'drop') : undefined;
}

const isUnconditional = (rule: string, action: 'accept' | 'drop'): boolean => rule.trim() === `action=${action}`;

/** Whether a rule list (first match wins) accepts everything: no drop before an unconditional accept. */
function acceptsAll(rules: readonly string[]): boolean {
  for (const r of rules) {
    if (isUnconditional(r, 'accept')) return true;
    if (ruleAction(r) !== 'accept') return false;
  }
  return false;
}

/** Whether a rule list accepts nothing: an unconditional drop before any accept. */
function acceptsNothing(rules: readonly string[]): boolean {
  for (const r of rules) {
    if (isUnconditional(r, 'drop')) return true;
    if (ruleAction(r) !== 'drop') return false;
  }
  return false;
}

/**
 * True when `to` accepts no packet that `from` refuses (a sound, conservative check): `from`
 * accepts all, `to` accepts nothing, or `to` is `from` with accept rules removed and drop
 * rules inserted (neither step can let more through, first match wins). Anything else counts
 * as widening.
 */
export function firewallNarrows(from: readonly string[], to: readonly string[]): boolean {
  if (acceptsAll(from) || acceptsNothing(to)) return true;
  if (to.some((r) => ruleAction(r) === undefined)) return false;
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    if (i === from.length && j === to.length) return true;
    const key = i * (to.length + 1) + j;
    const seen = memo.get(key);
    if (seen !== undefined) return seen;
    let ok = false;
    if (i < from.length && j < to.length && from[i] === to[j]) ok = go(i + 1, j + 1);
    if (!ok && i < from.length && ruleAction(from[i]!) === 'accept') ok = go(i + 1, j);
    if (!ok && j < to.length && ruleAction(to[j]!) === 'drop') ok = go(i, j + 1);
    memo.set(key, ok);
    return ok;
  };
  return go(0, 0);
}

function change(kind: ChangeKind, key: string, rule: Rule, reason: string): ClassifiedChange {
  return { kind, key, scope: rule.scope, reach: rule.scope === 'reach' ? rule.reach : null, reason };
}

/** Key of a device change (`assign|…` / `unassign|…`), as `withholdFromDiff` matches it. */
export function deviceChangeKey(op: 'assign' | 'unassign', key: string): string {
  return `${op}|${key}`;
}

/** Every planned change of one qube, classified. */
export function classifyQube(q: PlannedQube, ctx: ReachContext): QubeReach {
  const all: ClassifiedChange[] = [];
  if (q.action === 'replace-class') {
    all.push(
      change(
        'class',
        q.klass,
        reach('class'),
        `replaces the ${q.liveClass ?? 'live'} with a ${q.klass}: a different kind of qube, with different powers`,
      ),
    );
  }
  const d = q.changes;
  if (d.label) all.push(change('label', 'label', OWN, PROPERTY_RULES.label!.why));
  if (d.template) all.push(change('template', 'template', OWN, PROPERTY_RULES.template!.why));
  for (const p of d.properties) {
    const { rule, why } = classifyProperty(q, p.name, p.from, p.to, ctx);
    all.push(change('property', p.name, rule, why));
  }
  for (const f of d.features) {
    const { rule, why } = classifyFeature(f.name);
    all.push(change('feature', f.name, rule, f.to === null && rule.scope === 'reach' ? `removal: ${why}` : why));
  }
  for (const t of d.tags) {
    all.push(
      change('tag', `${t.op}|${t.tag}`, reach('tags'), `qrexec policy can grant or deny by tag (${t.op} '${t.tag}')`),
    );
  }
  for (const c of d.devices) {
    const a = c.assignment;
    const key = deviceChangeKey(c.op, deviceKey(a));
    all.push(
      c.op === 'assign'
        ? change('device', key, reach('devices'), `gives it ${a.devclass} device ${a.backend}:${a.port} (${a.mode})`)
        : change('device', key, OWN, `takes ${a.devclass} device ${a.backend}:${a.port} away from the qube only`),
    );
  }
  if (d.firewall) {
    all.push(
      firewallNarrows(d.firewall.from, d.firewall.to)
        ? change('firewall', 'firewall', OWN, 'its firewall only narrows')
        : change('firewall', 'firewall', reach('network'), 'its firewall lets more traffic out than today'),
    );
  }
  if (d.notes) all.push(change('notes', 'notes', OWN, 'its own notes'));
  return {
    qube: q.name,
    own: all.filter((c) => c.scope === 'own'),
    reach: all.filter((c) => c.scope === 'reach'),
  };
}

export function classifyPlan(plan: RestorePlan, ctx: ReachContext): QubeReach[] {
  return plan.qubes.map((q) => classifyQube(q, ctx));
}

export function isApproved(c: ClassifiedChange, approvals: ReadonlySet<ReachApproval>): boolean {
  return c.scope === 'own' || approvals.has('all') || (c.reach !== null && approvals.has(c.reach));
}

/** The diff without the withheld changes (also used on a diff re-read after creating a qube). */
export function withholdFromDiff(diff: SettingsDiff, withheld: readonly ClassifiedChange[]): SettingsDiff {
  const keys = new Set(withheld.map((c) => `${c.kind}|${c.key}`));
  const has = (kind: ChangeKind, key: string): boolean => keys.has(`${kind}|${key}`);
  return {
    label: diff.label && !has('label', 'label') ? diff.label : null,
    template: diff.template && !has('template', 'template') ? diff.template : null,
    properties: diff.properties.filter((p) => !has('property', p.name)),
    features: diff.features.filter((f) => !has('feature', f.name)),
    tags: diff.tags.filter((t) => !has('tag', `${t.op}|${t.tag}`)),
    devices: diff.devices.filter((c) => !has('device', deviceChangeKey(c.op, deviceKey(c.assignment)))),
    firewall: diff.firewall && !has('firewall', 'firewall') ? diff.firewall : null,
    notes: diff.notes && !has('notes', 'notes') ? diff.notes : null,
  };
}

export interface SplitPlan {
  /** the plan with every unapproved reach change removed */
  applied: RestorePlan;
  /** per qube, the reach changes left out (only qubes with some) */
  withheld: Record<string, ClassifiedChange[]>;
  /** the approval classes that would apply everything withheld */
  needed: ReachClass[];
}

/**
 * Splits a plan by an approval set. Own changes and data always stay. A withheld class change
 * withholds the whole qube (its data belongs to a different kind of qube): its action becomes
 * `skip`. Withheld reference properties leave the deferred list too.
 */
export function splitPlan(plan: RestorePlan, approvals: ReadonlySet<ReachApproval>, ctx: ReachContext): SplitPlan {
  const withheld: Record<string, ClassifiedChange[]> = {};
  const needed = new Set<ReachClass>();
  const qubes = plan.qubes.map((q): PlannedQube => {
    const held = classifyQube(q, ctx).reach.filter((c) => !isApproved(c, approvals));
    if (held.length === 0) return q;
    withheld[q.name] = held;
    for (const c of held) if (c.reach !== null) needed.add(c.reach);
    if (held.some((c) => c.kind === 'class')) {
      return {
        ...q,
        action: 'skip',
        create: null,
        volumes: [],
        changes: emptyDiff(),
        changeCount: 0,
        deferred: [],
        ...(q.netLoss !== undefined ? { netLoss: [] } : {}), // not stopped: cuts nobody off
        problems: [
          ...q.problems,
          { severity: 'warning', message: `not restored: its class change needs approval (reach class 'class').` },
        ],
      };
    }
    const changes = withholdFromDiff(q.changes, held);
    const heldProps = new Set(held.filter((c) => c.kind === 'property').map((c) => c.key));
    return {
      ...q,
      changes,
      changeCount: diffSize(changes) + (q.action === 'overwrite' ? 0 : 1),
      deferred: q.deferred.filter((p) => !heldProps.has(p)),
    };
  });
  return {
    applied: { ...plan, qubes },
    withheld,
    needed: REACH_CLASSES.filter((c) => needed.has(c)),
  };
}
