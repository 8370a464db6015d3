// Restore planning: a pure function from (archived settings, the session's volumes, the live
// state read in batches, the request) to the plan a restore applies and `--dry-run` prints.
// Nothing here performs I/O; applyRestore (core/restore/apply.ts) carries the plan out through the
// restore ports (adapters/qubesd/live.ts, app/restore.ts); docs/design.md "Restore algorithm".
import type { ArchivedSystem, PowerState, QubeClass, QubeSettings } from '../qubes/model.ts';
import { diffSettings, diffSize, IN_PROGRESS_TAG, type NormaliseValue, type SettingsDiff } from './diff.ts';
import { MAX_REQUEST_BYTES } from '../qubesapi/validate.ts';
import { REFERENCE_PROPERTIES, restoreOrder, type OrderNode } from './order.ts';
import { selectArchivedQubes } from '../selection.ts';

export interface LiveQube {
  name: string;
  klass: QubeClass;
  state: PowerState;
}

export interface SessionVolumes {
  private?: string;
  root?: string;
}

export interface RestoreRequest {
  /** named qubes; empty = every qube of the session */
  qubes: readonly string[];
  exclude: readonly string[];
  includeDisposable: boolean;
  /** property names skipped (`--pref NAME::x`) */
  skip: ReadonlySet<string>;
  ignoreMissing: boolean;
  forceIncomplete: boolean;
}

export interface PlanInput {
  session: string;
  archived: ArchivedSystem;
  /** archived notes.txt per qube */
  archivedNotes: Readonly<Record<string, string>>;
  /** archive volume names of each qube in this session (from the Wyng archive model) */
  sessionVolumes: Readonly<Record<string, SessionVolumes>>;
  live: {
    qubes: readonly LiveQube[];
    /** settings of the live qubes that the restore overwrites (read in batches) */
    settings: ReadonlyMap<string, QubeSettings>;
    notes?: Readonly<Record<string, string>>;
    /** global properties, for --ignore-missing fallbacks (default_template, …) */
    globals: Readonly<Record<string, string>>;
    /** template of each RUNNING disposable (name → its disposable template) */
    runningDispvmTemplates: Readonly<Record<string, string>>;
  };
  request: RestoreRequest;
  normalise: NormaliseValue;
  /**
   * The live qubesd's device API (default 4.3+). On 4.2 a device change is a persistent
   * attachment by port (Attach persistent=True / Detach), shown as such in the plan.
   */
  deviceApi?: '4.2' | '4.3';
}

export type PlanAction = 'create' | 'overwrite' | 'replace-class' | 'skip';

export interface PlanProblem {
  severity: 'error' | 'warning';
  message: string;
}

export interface PlannedVolume {
  kind: 'private' | 'root';
  archiveName: string;
}

export interface PlannedQube {
  name: string;
  klass: QubeClass;
  action: PlanAction;
  liveClass: QubeClass | null;
  running: boolean;
  /** running disposables based on this qube that must be stopped first */
  stopDisposables: string[];
  create: { klass: QubeClass; label: string; template: string | null } | null;
  volumes: PlannedVolume[];
  changes: SettingsDiff;
  changeCount: number;
  /** reference properties set in the second pass (dependency cycles) */
  deferred: string[];
  /** archived values replaced by the planner (--ignore-missing fallbacks; null = default) */
  overrides: Record<string, string | null>;
  problems: PlanProblem[];
  /** the live qube still carries `backup-restore-in-progress` from an earlier run */
  staleTag: boolean;
  /** true when an error problem means this qube will not be restored */
  fails: boolean;
  /**
   * Running qubes that lose network while the qube (or a disposable of it) this restore stops is
   * halted, transitively; set by the app from the live netvms (core/restore/net-loss.ts)
   */
  netLoss?: string[];
}

export interface RestorePlan {
  session: string;
  qubes: PlannedQube[];
  order: string[];
  /** requested names that are not restorable from this session */
  notMatched: string[];
  /** the device API the device changes are written with (docs/design.md "Device API on 4.2 and 4.3+") */
  deviceApi: '4.2' | '4.3';
}

/** The longest setting value that fits in one Admin API request (qubesd's limit minus a header). */
const MAX_VALUE_BYTES = MAX_REQUEST_BYTES - 1024;

const HAS_ROOT: ReadonlySet<QubeClass> = new Set(['TemplateVM', 'StandaloneVM']);
const GLOBAL_DEFAULT_OF: Record<string, string> = {
  template: 'default_template',
  netvm: 'default_netvm',
  default_dispvm: 'default_dispvm',
  audiovm: 'default_audiovm',
  guivm: 'default_guivm',
  management_dispvm: 'management_dispvm',
};

/**
 * The qubes a restore of this session touches: archived qubes (never dom0) with volumes in the
 * session, or disposables; chosen by the request (selectArchivedQubes, the rule verify uses too).
 */
export function selectRestoreQubes(input: Pick<PlanInput, 'archived' | 'sessionVolumes' | 'request'>): {
  selected: string[];
  notMatched: string[];
} {
  const { archived, sessionVolumes, request } = input;
  const available = archived.qubes
    .filter((q) => q.klass !== 'AdminVM')
    .filter((q) => q.klass === 'DispVM' || sessionVolumes[q.name] !== undefined)
    .map((q) => ({ name: q.name, disposable: q.klass === 'DispVM' }));
  return selectArchivedQubes(available, request);
}

export function planRestore(input: PlanInput): RestorePlan {
  const { archived, live, request } = input;
  const { selected, notMatched } = selectRestoreQubes(input);
  const selectedSet = new Set(selected);
  const archivedByName = new Map(archived.qubes.map((q) => [q.name, q]));
  const liveByName = new Map(live.qubes.map((q) => [q.name, q]));

  const planned = new Map<string, PlannedQube>();
  const overridesOf = new Map<string, Map<string, string | null>>();
  for (const name of selected) {
    const target = archivedByName.get(name)!;
    const current = liveByName.get(name);
    const problems: PlanProblem[] = [];
    let action: PlanAction = current === undefined ? 'create' : 'overwrite';
    if (current && current.klass !== target.klass) {
      if (current.klass === 'AdminVM') {
        problems.push({ severity: 'error', message: `'${name}' is dom0 on this system; it is never replaced.` });
      } else {
        action = 'replace-class';
        problems.push({
          severity: 'warning',
          message:
            `live '${name}' is a ${current.klass}, the backup holds a ${target.klass}: ` +
            'it will be removed and re-created.',
        });
      }
    }
    const running = current !== undefined && current.state !== 'Halted';
    if (running)
      problems.push({
        severity: 'warning',
        message: `'${name}' is ${current!.state}: it will be killed before its volumes are restored.`,
      });
    const stopDisposables = Object.entries(live.runningDispvmTemplates)
      .filter(([, template]) => template === name)
      .map(([dispvm]) => dispvm)
      .sort();
    if (stopDisposables.length > 0) {
      problems.push({
        severity: 'warning',
        message:
          `disposables based on '${name}' are running (${stopDisposables.join(', ')}): ` + 'they will be killed first.',
      });
    }

    const volumes: PlannedVolume[] = [];
    if (target.klass !== 'DispVM') {
      const vols = input.sessionVolumes[name] ?? {};
      const hasRoot = HAS_ROOT.has(target.klass);
      if (vols.private) volumes.push({ kind: 'private', archiveName: vols.private });
      if (hasRoot && vols.root) volumes.push({ kind: 'root', archiveName: vols.root });
      if (!vols.private || (hasRoot && !vols.root)) {
        const msg = `Incomplete volume list for ${target.klass} '${name}' in session ${input.session}.`;
        if (request.forceIncomplete && hasRoot)
          problems.push({ severity: 'warning', message: `${msg} Restoring what there is (--force-incomplete).` });
        else problems.push({ severity: 'error', message: msg });
      }
    }

    // references to qubes that are neither live nor restored in this run
    const overrides = new Map<string, string | null>();
    for (const prop of REFERENCE_PROPERTIES) {
      if (request.skip.has(prop)) continue;
      const ref = target.properties[prop];
      if (ref === 'dom0' && prop !== 'guivm' && prop !== 'audiovm') {
        // qubesd cannot use dom0 as a template, net qube or disposable template: a wrong or tampered archive
        problems.push({
          severity: 'error',
          message: `its ${prop} is dom0, which can only be a guivm or audiovm: refused.`,
        });
        continue;
      }
      if (ref === undefined || ref === '' || liveByName.has(ref) || selectedSet.has(ref)) continue;
      const fallbackName = GLOBAL_DEFAULT_OF[prop]!;
      if (!request.ignoreMissing) {
        problems.push({
          severity: 'error',
          message:
            `its ${prop} '${ref}' is neither on this system nor restored in this run ` +
            '(restore it too, or use --ignore-missing).',
        });
      } else if (prop === 'template') {
        const fallback = live.globals[fallbackName];
        if (fallback) {
          overrides.set(prop, fallback);
          problems.push({
            severity: 'warning',
            message: `its template '${ref}' is missing: using the default template '${fallback}' (--ignore-missing).`,
          });
        } else {
          problems.push({
            severity: 'error',
            message: `its template '${ref}' is missing and there is no default_template.`,
          });
        }
      } else {
        overrides.set(prop, null);
        const fallback = live.globals[fallbackName];
        problems.push({
          severity: 'warning',
          message:
            `its ${prop} '${ref}' is missing: ${prop} follows the system default` +
            `${fallback ? ` ('${fallback}')` : ''} (--ignore-missing).`,
        });
      }
    }
    overridesOf.set(name, overrides);

    const currentSettings = action === 'overwrite' ? live.settings.get(name) : undefined;
    if (action === 'overwrite' && currentSettings === undefined) {
      problems.push({ severity: 'error', message: `internal: live settings of '${name}' were not read.` });
    }
    const changes = diffSettings({
      target,
      current: currentSettings,
      skip: request.skip,
      normalise: input.normalise,
      overrides,
      targetNotes: input.archivedNotes[name],
      currentNotes: action === 'overwrite' ? live.notes?.[name] : undefined,
    });
    // roles that let a qube handle other qubes' traffic or start their disposables: shown, so a
    // tampered archive cannot slip them in unnoticed
    for (const [prop, role] of [
      ['provides_network', 'a network provider: qubes using it as netvm send all their traffic through it'],
      ['template_for_dispvms', 'a disposable template: disposables can be started from it'],
    ] as const) {
      if (changes.properties.some((p) => p.name === prop && p.to === 'True'))
        problems.push({ severity: 'warning', message: `'${name}' becomes ${role} (${prop}=True).` });
    }
    // a value no Admin API call can carry would fail half-way through the qube's settings
    for (const [kind, list] of [
      ['property', changes.properties],
      ['feature', changes.features],
    ] as const) {
      for (const c of list) {
        const bytes = c.to === null ? 0 : new TextEncoder().encode(c.to).length;
        if (bytes > MAX_VALUE_BYTES)
          problems.push({
            severity: 'error',
            message: `its ${kind} ${c.name} is ${bytes} bytes long, more than an Admin API call can carry: refused.`,
          });
      }
    }
    const label = target.properties.label ?? '';
    const template = overrides.has('template') ? overrides.get('template')! : (target.properties.template ?? null);
    if (action !== 'overwrite' && label === '')
      problems.push({ severity: 'error', message: `the backup gives '${name}' no label.` });
    if (action !== 'overwrite' && (target.klass === 'AppVM' || target.klass === 'DispVM') && !template) {
      problems.push({ severity: 'error', message: `the backup gives ${target.klass} '${name}' no template.` });
    }
    planned.set(name, {
      name,
      klass: target.klass,
      action,
      liveClass: current?.klass ?? null,
      running,
      stopDisposables,
      create: action === 'overwrite' ? null : { klass: target.klass, label, template },
      volumes,
      changes,
      changeCount: diffSize(changes) + (action === 'overwrite' ? 0 : 1),
      deferred: [],
      overrides: Object.fromEntries(overrides),
      staleTag: currentSettings?.tags.includes(IN_PROGRESS_TAG) ?? false,
      problems,
      fails: problems.some((p) => p.severity === 'error'),
    });
  }

  // A qube that needs another qube of this run which fails cannot succeed either.
  let changed = true;
  while (changed) {
    changed = false;
    for (const q of planned.values()) {
      if (q.fails) continue;
      const target = archivedByName.get(q.name)!;
      for (const prop of REFERENCE_PROPERTIES) {
        const ref = overridesOf.get(q.name)!.has(prop) ? overridesOf.get(q.name)!.get(prop) : target.properties[prop];
        if (!ref || request.skip.has(prop)) continue;
        const dep = planned.get(ref);
        if (dep?.fails && !liveByName.has(ref)) {
          q.problems.push({ severity: 'error', message: `its ${prop} '${ref}' cannot be restored.` });
          q.fails = true;
          changed = true;
          break;
        }
      }
    }
  }

  const nodes: OrderNode[] = selected.map((name) => {
    const target = archivedByName.get(name)!;
    const refs: Record<string, string> = {};
    for (const prop of REFERENCE_PROPERTIES) {
      const ref = target.properties[prop];
      if (ref && selectedSet.has(ref) && !request.skip.has(prop)) refs[prop] = ref;
    }
    return { name, klass: target.klass, refs };
  });
  const { order, deferred } = restoreOrder(nodes);
  for (const [name, props] of Object.entries(deferred)) planned.get(name)!.deferred = props;

  return {
    session: input.session,
    qubes: order.map((n) => planned.get(n)!),
    order,
    notMatched,
    deviceApi: input.deviceApi ?? '4.3',
  };
}
