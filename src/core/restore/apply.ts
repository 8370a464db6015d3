// Carries out a restore plan through injected ports (Admin API writes, Wyng receive, notes
// files, post steps). The orchestration is here, the I/O is behind the ports, so every step
// and every fault can be tested without a Qubes system.
//
// Steps: stop what must stop → remove/create qubes (in dependency order) → ONE Wyng receive
// for every volume → settings per qube in dependency order (label, template, properties,
// features, tags, devices, firewall, notes) → deferred references (cycles) → re-read and
// verify each qube against the archive → drop `backup-restore-in-progress` from qubes that
// verified → post steps. One qube's failure never stops the others.
import { SETTINGS_PARTS, type QubeSettings, type SettingsPart } from '../qubes/model.ts';
import { diffSettings, diffSize, IN_PROGRESS_TAG, type NormaliseValue, type SettingsDiff } from './diff.ts';
import { crashPoint } from '../test-hook.ts';
import { REFERENCE_PROPERTIES } from './order.ts';
import type { PlannedQube, PlannedVolume, RestorePlan } from './plan.ts';

export interface VolumeTarget {
  /** the pool path Wyng's --local-from keys on (dir_path, or VG/THINPOOL) */
  poolPath: string;
  /** the volume's local name in that pool */
  localName: string;
}

export interface RestorePorts {
  kill(qube: string): Promise<void>;
  remove(qube: string): Promise<void>;
  create(qube: string, spec: NonNullable<PlannedQube['create']>, pool: string | null): Promise<void>;
  setProperty(qube: string, name: string, value: string): Promise<void>;
  resetProperty(qube: string, name: string): Promise<void>;
  setFeature(qube: string, name: string, value: string): Promise<void>;
  removeFeature(qube: string, name: string): Promise<void>;
  addTag(qube: string, tag: string): Promise<void>;
  removeTag(qube: string, tag: string): Promise<void>;
  assignDevice(qube: string, change: SettingsDiff['devices'][number]['assignment']): Promise<void>;
  unassignDevice(qube: string, change: SettingsDiff['devices'][number]['assignment']): Promise<void>;
  setFirewall(qube: string, rules: readonly string[]): Promise<void>;
  writeNotes(qube: string, klass: QubeSettings['klass'], text: string): Promise<void>;
  /**
   * Current settings of these qubes. With `parts`, only those parts are read for each qube
   * (the others may be returned as anything: the caller does not look at them).
   */
  readSettings(
    qubes: readonly string[],
    parts?: ReadonlyMap<string, ReadonlySet<SettingsPart>>,
  ): Promise<Map<string, QubeSettings>>;
  readNotes(qube: string, klass: QubeSettings['klass']): Promise<string>;
  /**
   * Where a volume is received. `existing`: the qube is overwritten and no qube was created or
   * removed yet in this run, so the location qubesd's files gave at planning still holds.
   */
  volumeTarget(qube: string, volume: PlannedVolume, existing?: boolean): Promise<VolumeTarget>;
  /**
   * A cheap fingerprint of a local volume's data (size and mtime: Wyng's receive sets a volume's
   * mtime to its session's), or undefined when the storage has none. The same stamp before and
   * after the receive means the receive changed no data. Without this port all data counts as changed.
   */
  volumeStamp?(target: VolumeTarget): Promise<string | undefined>;
  /** The data stamp recorded when this qube's post step last ran, and recording it. */
  postStamp?(qube: string): Promise<string | undefined>;
  recordPostStamp?(qube: string, stamp: string): Promise<void>;
  /** one Wyng receive; resolves with the archive volume names that failed */
  receive(map: ReadonlyMap<string, Array<[string, string]>>): Promise<string[]>;
  /**
   * The menu refresh of one qube: `qvm-appmenus --update`; with `sync`, a template or standalone
   * qube is first started for `qvm-sync-appmenus` (its installed applications may have changed).
   */
  post(qube: string, klass: QubeSettings['klass'], sync: boolean): Promise<void>;
  say(text: string): void;
}

export { SETTINGS_PARTS, type SettingsPart };

/** Which parts of a qube's settings a diff writes. */
export function partsOf(d: SettingsDiff): Set<SettingsPart> {
  const parts = new Set<SettingsPart>();
  if (d.label || d.template || d.properties.length > 0) parts.add('properties');
  if (d.features.length > 0) parts.add('features');
  if (d.tags.length > 0) parts.add('tags');
  if (d.devices.length > 0) parts.add('devices');
  if (d.firewall) parts.add('firewall');
  return parts;
}

export interface ApplyInput {
  plan: RestorePlan;
  /** archived settings by name (the restore's target) */
  archived: ReadonlyMap<string, QubeSettings>;
  archivedNotes: Readonly<Record<string, string>>;
  skip: ReadonlySet<string>;
  normalise: NormaliseValue;
  pool: string | null;
  post: boolean;
  /** stop before any write (dry run callers never get here, this is a second guard) */
  dryRun?: false;
  /** called as each late phase starts (for the result's timing) */
  onPhase?: (phase: RestorePhase) => void;
  /**
   * Applied to every diff apply computes itself (a created qube's, re-read once it exists, and the
   * verification diff): drops the reach changes nobody approved (app/reach.ts, issue 14).
   */
  restrict?: (name: string, diff: SettingsDiff) => SettingsDiff;
}

/** The phases after the plan whose start `onPhase` reports. */
export type RestorePhase = 'receive' | 'received' | 'verify' | 'post' | 'done';

export type QubeOutcomeStatus = 'restored' | 'failed' | 'skipped';

export interface QubeOutcome {
  name: string;
  status: QubeOutcomeStatus;
  changes: number;
  error?: string;
}

class QubeRun {
  errors: string[] = [];
  /** settings parts written in this run (what verification has to re-read) */
  written = new Set<SettingsPart>();
  changes = 0;
  tagged = false;
  /** the receive may have changed this qube's data (a stamp differed or is unknown) */
  dataChanged = false;
  /** this run created the qube or wrote a setting dom0's menus are made from (menuRelevant) */
  menus = false;
  constructor(readonly q: PlannedQube) {}
  get failed(): boolean {
    return this.errors.length > 0;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function applyRestore(input: ApplyInput, ports: RestorePorts): Promise<QubeOutcome[]> {
  const runs = new Map<string, QubeRun>();
  for (const q of input.plan.qubes) runs.set(q.name, new QubeRun(q));
  const active = (): QubeRun[] => input.plan.order.map((n) => runs.get(n)!).filter((r) => !r.failed);

  for (const r of runs.values()) {
    if (r.q.fails) r.errors.push(...r.q.problems.filter((p) => p.severity === 'error').map((p) => p.message));
  }

  const step = async (r: QubeRun, what: string, fn: () => Promise<void>, counts = true): Promise<boolean> => {
    try {
      await fn();
      if (counts) r.changes += 1;
      return true;
    } catch (err) {
      r.errors.push(`${what}: ${message(err)}`);
      return false;
    }
  };
  const tag = async (r: QubeRun): Promise<void> => {
    if (r.tagged) return;
    try {
      await ports.addTag(r.q.name, IN_PROGRESS_TAG);
      r.tagged = true;
    } catch (err) {
      r.errors.push(`tagging ${IN_PROGRESS_TAG}: ${message(err)}`);
    }
  };
  /**
   * Creates a qube and marks it. A new qube that cannot be marked is removed again: it holds
   * nothing yet, and a half-made qube must never be left without `backup-restore-in-progress`.
   */
  const createTagged = async (r: QubeRun): Promise<boolean> => {
    const q = r.q;
    if (!(await step(r, 'creating the qube', () => ports.create(q.name, q.create!, input.pool)))) return false;
    crashPoint('restore:created');
    await tag(r);
    if (r.tagged) return true;
    await step(r, 'removing the new qube that could not be tagged', () => ports.remove(q.name), false);
    return false;
  };

  // 0. where an overwritten qube's volumes are received, located before any write of this run
  // (stopping or tagging a qube does not move its volumes). Created qubes' volumes are located
  // once they exist (step 2).
  const located = new Map<PlannedVolume, Promise<VolumeTarget>>();
  for (const r of active()) {
    if (r.q.action !== 'overwrite') continue;
    for (const v of r.q.volumes) {
      const p = ports.volumeTarget(r.q.name, v, true);
      p.catch(() => undefined); // reported in step 2, if the qube is still going then
      located.set(v, p);
    }
  }
  await Promise.allSettled(located.values());

  // 1. stop, remove, create — in dependency order, so a created qube's template exists
  for (const r of active()) {
    const q = r.q;
    for (const d of q.stopDisposables) await step(r, `killing disposable ${d}`, () => ports.kill(d), false);
    if (q.running && !(await step(r, 'killing the running qube', () => ports.kill(q.name), false))) continue;
    if (q.running) crashPoint('restore:stopped');
    if (q.action === 'replace-class') {
      await tag(r);
      if (!r.tagged) continue; // never remove a qube that could not be marked first
      if (!(await step(r, `removing the live ${q.liveClass}`, () => ports.remove(q.name)))) continue;
      crashPoint('restore:removed');
      r.tagged = false;
    }
    if (q.action === 'create' || q.action === 'replace-class') {
      // a disposable is created in step 3, once its disposable template is configured
      // (qubesd refuses a DispVM whose template lacks template_for_dispvms)
      if (createsLate(q)) continue;
      await createTagged(r);
    } else if (q.changeCount > 0) {
      await tag(r);
    }
  }

  // 2. data: one receive for every volume of the qubes still going
  const map = new Map<string, Array<[string, string]>>();
  const volumeOwner = new Map<string, QubeRun>();
  const targets: Array<[QubeRun, VolumeTarget]> = [];
  for (const r of active()) {
    for (const v of r.q.volumes) {
      try {
        const t = await (located.get(v) ?? ports.volumeTarget(r.q.name, v));
        const list = map.get(t.poolPath) ?? [];
        list.push([v.archiveName, t.localName]);
        map.set(t.poolPath, list);
        volumeOwner.set(v.archiveName, r);
        targets.push([r, t]);
      } catch (err) {
        r.errors.push(`locating the local ${v.kind} volume: ${message(err)}`);
      }
    }
  }
  input.onPhase?.('receive');
  if (map.size > 0) {
    ports.say(`Restoring ${volumeOwner.size} data volume(s) from session ${input.plan.session}.`);
    const before = await stamps(ports, targets);
    try {
      const failed = await ports.receive(map);
      for (const vol of failed) {
        const r = volumeOwner.get(vol);
        if (r) r.errors.push(`Wyng could not restore volume '${vol}'`);
      }
    } catch (err) {
      // Wyng failed as a whole (auth, storage, interrupt, crash — not per volume): the run stops
      // with Wyng's error and exit code (README "Exit codes"); every qube whose data may be
      // half-written keeps `backup-restore-in-progress`.
      for (const r of new Set(volumeOwner.values())) await tag(r);
      throw err;
    }
    for (const r of new Set(volumeOwner.values())) if (r.failed) await tag(r);
    const after = await stamps(ports, targets);
    targets.forEach(([r], i) => {
      if (before[i] === undefined || before[i] !== after[i]) r.dataChanged = true;
    });
    // still the data our last post step ran on (only that boot changed it), and the same session
    // received again: the menus already come from this data
    for (const r of new Set(targets.map(([x]) => x))) {
      const was = r.dataChanged && ports.postStamp ? await ports.postStamp(r.q.name).catch(() => undefined) : undefined;
      if (was !== undefined && was === dataStamp(input.plan.session, targets, before, r)) r.dataChanged = false;
    }
    crashPoint('restore:received');
  }
  input.onPhase?.('received');

  // 3. settings, in dependency order; created qubes are diffed against what qubesd made
  // Reads are made per qube (concurrently; the same calls as one batch): one qube's failed read
  // fails that qube only.
  const readOne = async (name: string, parts?: ReadonlySet<SettingsPart>): Promise<QubeSettings | undefined> =>
    (await ports.readSettings([name], parts ? new Map([[name, parts]]) : undefined)).get(name);
  const created = active()
    .filter((r) => r.q.action !== 'overwrite' && !createsLate(r.q))
    .map((r) => r.q.name);
  const fresh = new Map<string, QubeSettings>();
  /** why a created qube could not be read back (the read failed, or qubesd does not list it) */
  const unread = new Map<string, string>();
  const readCreated = async (name: string): Promise<void> => {
    try {
      const s = await readOne(name);
      if (s !== undefined) fresh.set(name, s);
      else unread.set(name, 'qubesd does not list it');
    } catch (err) {
      unread.set(name, message(err));
    }
  };
  await Promise.all(created.map(readCreated));
  const diffOf = (name: string, current: QubeSettings | undefined): SettingsDiff => {
    const diff = diffSettings({
      target: input.archived.get(name)!,
      current,
      skip: input.skip,
      normalise: input.normalise,
      overrides: new Map(Object.entries(runs.get(name)!.q.overrides)),
      targetNotes: input.archivedNotes[name],
    });
    return input.restrict ? input.restrict(name, diff) : diff;
  };
  const late: Array<[QubeRun, SettingsDiff['properties'][number]]> = [];
  for (const r of active()) {
    const q = r.q;
    if (q.action !== 'overwrite' && createsLate(q)) {
      if (!(await createTagged(r))) continue;
      await readCreated(q.name);
    }
    const diff =
      q.action === 'overwrite' ? q.changes : fresh.has(q.name) ? diffOf(q.name, fresh.get(q.name)) : q.changes;
    if (q.action !== 'overwrite' && !fresh.has(q.name)) {
      r.errors.push(`the created qube could not be read back (${unread.get(q.name) ?? 'not read'})`);
      continue;
    }
    if (diffSize(diff) > 0) {
      await tag(r);
      if (!r.tagged) continue;
    }
    for (const part of partsOf(diff)) r.written.add(part);
    if (q.action !== 'overwrite' || menuRelevant(diff)) r.menus = true;
    await applyDiff(r, diff, q.deferred, input.archivedNotes[q.name], ports, step);
    for (const p of diff.properties) if (q.deferred.includes(p.name)) late.push([r, p]);
    crashPoint('restore:settings');
  }
  // 3b. references deferred by dependency cycles, once every qube they name is configured
  for (const [r, p] of late) {
    if (r.failed) continue;
    r.written.add('properties');
    if (MENU_PROPERTIES.has(p.name)) r.menus = true;
    if (p.to === null) await step(r, `resetting ${p.name}`, () => ports.resetProperty(r.q.name, p.name));
    else await step(r, `setting ${p.name}`, () => ports.setProperty(r.q.name, p.name, p.to!));
  }

  // 4. verify against the archive, then drop the in-progress tag where it holds
  input.onPhase?.('verify');
  // A qube that got no write at all was verified by its plan (its diff was empty).
  const touched = (r: QubeRun): boolean =>
    r.changes > 0 || r.tagged || r.q.staleTag || r.q.action !== 'overwrite' || r.q.changeCount > 0;
  const toVerify = input.plan.qubes
    .map((q) => runs.get(q.name)!)
    .filter((r) => (!r.failed || r.tagged) && touched(r))
    .map((r) => r.q.name);
  // Re-read only what was written: a created qube entirely, an overwritten one per part.
  const partsToRead = new Map<string, ReadonlySet<SettingsPart>>();
  for (const n of toVerify) {
    const r = runs.get(n)!;
    partsToRead.set(n, r.q.action === 'overwrite' ? r.written : new Set(SETTINGS_PARTS));
  }
  const live = new Map<string, QubeSettings>();
  await Promise.all(
    toVerify.map(async (n) => {
      try {
        const s = await readOne(n, partsToRead.get(n));
        if (s !== undefined) live.set(n, s);
      } catch (err) {
        runs.get(n)!.errors.push(`verification read failed: ${message(err)}`);
      }
    }),
  );
  for (const r of active()) {
    if (!touched(r)) continue;
    const now = live.get(r.q.name);
    if (now === undefined) {
      r.errors.push('verification: the qube is missing after the restore');
      continue;
    }
    const left = diffOf(
      r.q.name,
      withUnreadParts(now, partsToRead.get(r.q.name), input.archived.get(r.q.name)!, r.q.overrides),
    );
    left.notes = null; // notes are files; checked below
    if (input.archivedNotes[r.q.name] !== undefined) {
      try {
        const notes = await ports.readNotes(r.q.name, r.q.klass);
        if (notes !== input.archivedNotes[r.q.name]) r.errors.push('verification: notes.txt differs from the archive');
      } catch (err) {
        r.errors.push(`verification: notes.txt could not be read (${message(err)})`);
      }
    }
    if (diffSize(left) > 0)
      r.errors.push(`verification: live settings differ from the archive (${describeDiff(left)})`);
    const hasTag =
      r.tagged ||
      r.q.staleTag ||
      (partsToRead.get(r.q.name)?.has('tags') === true && now.tags.includes(IN_PROGRESS_TAG));
    if (!r.failed && hasTag) {
      try {
        await ports.removeTag(r.q.name, IN_PROGRESS_TAG);
      } catch (err) {
        r.errors.push(`removing ${IN_PROGRESS_TAG}: ${message(err)}`);
      }
    }
    crashPoint('restore:verified');
  }

  // 5. post steps (menus); their failures are reported but do not fail the qube. Only for qubes
  // whose data or menu settings this run changed: an unchanged rerun, or one that changed only
  // other settings (memory, netvm, firewall …), starts no qube and refreshes no menu. A template
  // or standalone qube is booted for qvm-sync-appmenus only when its data changed: its settings
  // do not change which applications are installed in it.
  input.onPhase?.('post');
  if (input.post) {
    for (const r of active()) {
      if (r.q.klass === 'DispVM' || !(r.dataChanged || r.menus)) continue;
      const sync = r.dataChanged && (r.q.klass === 'TemplateVM' || r.q.klass === 'StandaloneVM');
      const ok = await ports.post(r.q.name, r.q.klass, sync).then(
        () => true,
        (err: unknown) => {
          ports.say(`  post step for ${r.q.name}: ${message(err)}`);
          return false;
        },
      );
      const mine = targets.filter(([x]) => x === r);
      if (ok && mine.length > 0 && ports.recordPostStamp) {
        const now = await stamps(ports, mine);
        if (now.every((x) => x !== undefined))
          await ports.recordPostStamp(r.q.name, dataStamp(input.plan.session, mine, now, r)).catch(() => undefined);
      }
    }
  }

  input.onPhase?.('done');
  return input.plan.order.map((name) => {
    const r = runs.get(name)!;
    const status: QubeOutcomeStatus = r.failed ? 'failed' : 'restored';
    return { name, status, changes: r.changes, ...(r.failed ? { error: r.errors.join('; ') } : {}) };
  });
}

/** One qube's data: the session and its volumes' stamps. */
function dataStamp(
  session: string,
  targets: ReadonlyArray<[QubeRun, VolumeTarget]>,
  values: ReadonlyArray<string | undefined>,
  r: QubeRun,
): string {
  const mine = targets.flatMap(([x, t], i) => (x === r ? [`${t.localName}=${values[i] ?? '?'}`] : []));
  return `${session}|${mine.join(',')}`;
}

/** Each target's stamp (undefined: unknown, or it could not be taken). */
async function stamps(
  ports: RestorePorts,
  targets: ReadonlyArray<[QubeRun, VolumeTarget]>,
): Promise<Array<string | undefined>> {
  return Promise.all(
    targets.map(([, t]) => (ports.volumeStamp ? ports.volumeStamp(t).catch(() => undefined) : undefined)),
  );
}

/** A re-read qube with the parts that were not re-read taken from the target (they were not written). */
function withUnreadParts(
  now: QubeSettings,
  read: ReadonlySet<SettingsPart> | undefined,
  target: QubeSettings,
  overrides: Readonly<Record<string, string | null>>,
): QubeSettings {
  if (read === undefined) return now;
  const props: Record<string, string> = { ...target.properties };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete props[k];
    else props[k] = v;
  }
  return {
    ...now,
    properties: read.has('properties') ? now.properties : props,
    features: read.has('features') ? now.features : target.features,
    tags: read.has('tags') ? now.tags : target.tags,
    devices: read.has('devices') ? now.devices : target.devices,
    ...(read.has('firewall')
      ? {}
      : { firewall: target.firewall && target.firewall.length > 0 ? target.firewall : ['action=accept'] }),
  };
}

function describeDiff(d: SettingsDiff): string {
  const parts: string[] = [];
  if (d.label) parts.push('label');
  if (d.template) parts.push('template');
  parts.push(...d.properties.map((p) => p.name));
  parts.push(...d.features.map((f) => `feature ${f.name}`));
  parts.push(...d.tags.map((t) => `tag ${t.tag}`));
  if (d.devices.length > 0) parts.push('devices');
  if (d.firewall) parts.push('firewall');
  return parts.join(', ');
}

type Step = (r: QubeRun, what: string, fn: () => Promise<void>, counts?: boolean) => Promise<boolean>;

/**
 * Properties dom0's application menus are made from (qubesappmenus: the entries' icon, the
 * template whose applications an app qube lists, the disposable entries of a disposable template).
 */
export const MENU_PROPERTIES: ReadonlySet<string> = new Set(['label', 'template', 'template_for_dispvms']);
/** Features the menus read: menu-items, default-menu-items, menu-favorites, internal, appmenus-dispvm. */
const MENU_FEATURE = /^(menu-|default-menu-|appmenus-)|^internal$/;

/** Whether a settings diff changes anything dom0's menus show of the qube. */
export function menuRelevant(d: SettingsDiff): boolean {
  return (
    d.label !== null ||
    d.template !== null ||
    d.properties.some((p) => MENU_PROPERTIES.has(p.name)) ||
    d.features.some((f) => MENU_FEATURE.test(f.name))
  );
}

async function applyDiff(
  r: QubeRun,
  d: SettingsDiff,
  deferred: readonly string[],
  notes: string | undefined,
  ports: RestorePorts,
  step: Step,
): Promise<void> {
  const name = r.q.name;
  if (d.label) await step(r, 'setting label', () => ports.setProperty(name, 'label', d.label!.to!));
  if (d.template && !deferred.includes('template')) {
    await step(r, 'setting template', () => ports.setProperty(name, 'template', d.template!.to!));
  }
  // plain properties first (provides_network, template_for_dispvms, …), references last
  const props = [...d.properties].sort((a, b) => Number(isRef(a.name)) - Number(isRef(b.name)));
  for (const p of props) {
    if (deferred.includes(p.name)) continue;
    if (p.to === null) await step(r, `resetting ${p.name}`, () => ports.resetProperty(name, p.name));
    else await step(r, `setting ${p.name}`, () => ports.setProperty(name, p.name, p.to!));
  }
  for (const f of d.features) {
    if (f.to === null) await step(r, `removing feature ${f.name}`, () => ports.removeFeature(name, f.name));
    else await step(r, `setting feature ${f.name}`, () => ports.setFeature(name, f.name, f.to!));
  }
  for (const t of d.tags) {
    if (t.op === 'add') await step(r, `adding tag ${t.tag}`, () => ports.addTag(name, t.tag));
    else await step(r, `removing tag ${t.tag}`, () => ports.removeTag(name, t.tag));
  }
  for (const c of d.devices.filter((x) => x.op === 'unassign')) {
    await step(r, `unassigning ${c.assignment.devclass} ${c.assignment.backend}:${c.assignment.port}`, () =>
      ports.unassignDevice(name, c.assignment),
    );
  }
  for (const c of d.devices.filter((x) => x.op === 'assign')) {
    await step(r, `assigning ${c.assignment.devclass} ${c.assignment.backend}:${c.assignment.port}`, () =>
      ports.assignDevice(name, c.assignment),
    );
  }
  if (d.firewall) await step(r, 'setting firewall rules', () => ports.setFirewall(name, d.firewall!.to));
  if (d.notes && notes !== undefined)
    await step(r, 'writing notes.txt', () => ports.writeNotes(name, r.q.klass, notes));
}

/** Qubes created in the settings step, right before their settings: disposables (no volumes). */
function createsLate(q: PlannedQube): boolean {
  return q.klass === 'DispVM' && q.volumes.length === 0;
}

const REFS: ReadonlySet<string> = new Set(REFERENCE_PROPERTIES);
function isRef(name: string): boolean {
  return REFS.has(name);
}
