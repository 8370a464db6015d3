// The live Qubes system as backup, restore and list see it: a thin layer over the Admin API
// client (reads batched and cached there) plus the files qubesd keeps per qube (notes.txt).
// It implements the app's QubesSystem port (src/app/ports.ts) and the qubesd side of the
// restore ports (core/restore/apply.ts).
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumeKind } from '../../core/archive.ts';
import { localVolumeName, poolPath, wyngPoolOf, type VolumeRef, type WyngPool } from '../../core/backup/plan.ts';
import type { Config } from '../../core/config.ts';
import { WqError } from '../../core/errors.ts';
import type { QubeClass, QubeSettings, SettingsPart } from '../../core/qubes/model.ts';
import { QubesApiError } from '../../core/qubesapi/errors.ts';
import { parseFirewallXml } from '../../core/qubesxml/firewall-xml.ts';
import { parseQubesXml } from '../../core/qubesxml/qubes-xml.ts';
import { qubeDirOf } from '../../core/restore/archived.ts';
import type { PoolInfo } from '../../core/qubesapi/parse.ts';
import type { RestorePorts } from '../../core/restore/apply.ts';
import type { LiveQube } from '../../core/restore/plan.ts';
import { readNotes, writeNotes } from '../fs/notes.ts';
import { readPostStamp, writePostStamp } from '../fs/post-steps.ts';
import type { CallSummary } from './call-log.ts';
import { AdminClient } from './client.ts';
import { socketTransportFromConfig } from './transport.ts';

/** The restore ports qubesd and the qube files serve (the rest, Wyng's receive and the output, are the app's). */
export type QubesRestorePorts = Omit<RestorePorts, 'receive' | 'say'>;

/** The live system of this dom0, through qubesd's socket (config `qubesdSocket`). */
export function openLiveSystem(config: Config): LiveSystem {
  return new LiveSystem(new AdminClient(socketTransportFromConfig(config)), config);
}

export class LiveSystem {
  /**
   * Pool and vid of each volume of the qubes the last `readSettingsFromFiles` found in qubesd's
   * qubes.xml (qube → volume name → where it is).
   */
  private fileVolumes = new Map<string, Map<string, { pool: string; vid: string }>>();

  constructor(
    private readonly client: AdminClient,
    private readonly config: Config,
  ) {}

  async listQubes(): Promise<LiveQube[]> {
    return (await this.client.listQubes()).map((q) => ({ name: q.name, klass: q.klass, state: q.state }));
  }

  async includeInBackups(qube: string): Promise<boolean> {
    return (await this.client.getProperty(qube, 'include_in_backups')).value === 'True';
  }

  /** pool and vid of a qube's volume, or undefined when the qube has no such volume. */
  async volumeOf(qube: string, kind: VolumeKind): Promise<VolumeRef | undefined> {
    try {
      const info = await this.client.volumeInfo(qube, kind);
      return { pool: info.pool, vid: info.vid, usage: info.usage, size: info.size };
    } catch (err) {
      // qubesd: an unknown volume name is `PermissionDenied: Argument not in '<q> volumes'`
      if (err instanceof QubesApiError && err.type === 'PermissionDenied') return undefined;
      throw err;
    }
  }

  /** The pool a qube's volume is in and the bytes it holds there, or undefined without such a volume. */
  async volumeUsage(qube: string, kind: VolumeKind): Promise<{ pool: string; usage: number } | undefined> {
    try {
      const info = await this.client.volumeInfo(qube, kind);
      return { pool: info.pool, usage: info.usage };
    } catch (err) {
      if (err instanceof QubesApiError && err.type === 'PermissionDenied') return undefined;
      throw err;
    }
  }

  /** Free bytes of a pool (admin.pool.UsageDetails), or undefined when its driver does not say. */
  async poolFree(pool: string): Promise<number | undefined> {
    const u = await this.client.poolUsage(pool);
    return u.data_size === undefined || u.data_usage === undefined ? undefined : u.data_size - u.data_usage;
  }

  /** Every pool, as Wyng addresses it. */
  async wyngPools(): Promise<Map<string, WyngPool>> {
    return new Map((await this.client.pools()).map((p) => [p.name, wyngPoolOf(p)]));
  }

  /** Every pool as the Admin API describes it (for --pool-info). */
  adminPools(): Promise<PoolInfo[]> {
    return this.client.pools();
  }

  hasTag(qube: string, tag: string): Promise<boolean> {
    return this.client.hasTag(qube, tag);
  }

  setBackupTimestamp(qube: string, seconds: number): Promise<void> {
    return this.client.setProperty(qube, 'backup_timestamp', seconds);
  }

  /**
   * Settings of these qubes, firewall included; with `parts`, only those parts of the qubes named
   * there. The client's read cache is emptied by every write, so a read after a change always
   * goes to qubesd.
   */
  readSettings(
    names: readonly string[],
    parts?: ReadonlyMap<string, ReadonlySet<SettingsPart>>,
  ): Promise<Map<string, QubeSettings>> {
    return this.client.readQubeSettings(names, { firewall: true, ...(parts !== undefined ? { parts } : {}) });
  }

  /**
   * Settings of these qubes as the files qubesd keeps say: `qubes.xml` (rewritten atomically
   * after every change) and each qube's `firewall.xml` (no firewall.xml: qubesd's one accept
   * rule), in the shape `readSettings` gives. No Admin API call. Qubes the file does not hold are
   * absent; undefined when the file cannot be read or parsed (the caller then asks qubesd).
   */
  readSettingsFromFiles(names: readonly string[]): Map<string, QubeSettings> | undefined {
    let system;
    try {
      system = parseQubesXml(readFileSync(join(this.config.qubesDir, 'qubes.xml')), { source: 'live qubes.xml' });
    } catch {
      return undefined;
    }
    const wanted = new Set(names);
    const out = new Map<string, QubeSettings>();
    this.fileVolumes = new Map();
    for (const q of system.qubes) {
      if (!wanted.has(q.name)) continue;
      const vols = new Map<string, { pool: string; vid: string }>();
      for (const v of q.volumes ?? []) {
        const { pool, vid } = v.config;
        if (pool !== undefined && pool !== '' && vid !== undefined && vid !== '') vols.set(v.name, { pool, vid });
      }
      this.fileVolumes.set(q.name, vols);
      if (q.klass === 'AdminVM') {
        const { firewall: _ignored, ...rest } = q;
        out.set(q.name, { ...rest, tags: [...q.tags].sort() });
        continue;
      }
      const fwPath = join(this.config.qubesDir, qubeDirOf(q.name, q.klass), 'firewall.xml');
      let firewall = ['action=accept'];
      try {
        if (existsSync(fwPath)) firewall = parseFirewallXml(readFileSync(fwPath), { source: fwPath });
      } catch {
        continue; // unreadable: this qube is read from qubesd
      }
      out.set(q.name, { ...q, tags: [...q.tags].sort(), firewall });
    }
    return out;
  }

  /**
   * The pool of a qube's volume as qubesd's qubes.xml said when `readSettingsFromFiles` read it
   * (no Admin API call), or undefined when the file did not say.
   */
  volumePoolFromFile(qube: string, kind: VolumeKind): string | undefined {
    return this.fileVolumes.get(qube)?.get(kind)?.pool;
  }

  /**
   * The device API of this qubesd (4.3+ Assign/Assigned or 4.2 Attach/List), found by probing
   * one device read of a live qube (free when the settings were already read: reads are cached).
   */
  async deviceApi(live: readonly LiveQube[]): Promise<'4.2' | '4.3'> {
    if (this.client.deviceApi !== undefined) return this.client.deviceApi;
    const q = live.find((x) => x.klass !== 'AdminVM');
    const devclass = (await this.client.deviceClasses())[0];
    if (q !== undefined && devclass !== undefined) await this.client.assignedDevices(q.name, devclass);
    return this.client.deviceApi ?? '4.3';
  }

  /** Global property values, explicit or default (for --ignore-missing fallbacks). */
  async globalValues(): Promise<Record<string, string>> {
    const all = await this.client.getAllGlobals();
    return Object.fromEntries([...all].map(([k, v]) => [k, v.value]));
  }

  /** The disposable template of each running DispVM. */
  async runningDispvmTemplates(live: readonly LiveQube[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const q of live) {
      if (q.klass !== 'DispVM' || q.state === 'Halted') continue;
      out[q.name] = (await this.client.getProperty(q.name, 'template')).value;
    }
    return out;
  }

  /** The netvm of each running qube ('' = none): one admin.vm.property.Get each (the restore's net-loss preview). */
  async runningNetvms(live: readonly LiveQube[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const q of live) {
      if (q.klass === 'AdminVM' || q.state === 'Halted') continue;
      out[q.name] = (await this.client.getProperty(q.name, 'netvm')).value;
    }
    return out;
  }

  readNotes(qube: string, klass: QubeClass): string {
    return readNotes(this.config.qubesDir, qube, klass);
  }

  /** Replaces notes.txt atomically. */
  writeNotes(qube: string, klass: QubeClass, text: string): void {
    writeNotes(this.config.qubesDir, qube, klass, text);
  }

  /** Stops a qube if it runs (kill: the restore overwrites it anyway). */
  async kill(qube: string): Promise<void> {
    try {
      await this.client.killQube(qube);
    } catch (err) {
      // already halted meanwhile: nothing to do
      if (err instanceof QubesApiError && err.type === 'QubesVMNotStartedError') return;
      throw err;
    }
  }

  /** Menu refresh after a restore (docs/design.md "Restore algorithm", post steps), as the dom0 user. */
  async postRestore(qube: string, klass: QubeClass, sync: boolean): Promise<void> {
    const asUser = ['-u', '#1000'];
    if (sync && (klass === 'TemplateVM' || klass === 'StandaloneVM')) {
      await this.client.startQube(qube);
      await execa(this.config.sudo, [...asUser, 'qvm-sync-appmenus', qube], { reject: false });
      await this.client.shutdownQube(qube, { wait: true }).catch(() => undefined);
    }
    const r = await execa(this.config.sudo, [...asUser, 'qvm-appmenus', '--update', qube], { reject: false });
    if (r.exitCode !== 0) throw new WqError('internal', postFailure(`qvm-appmenus --update ${qube}`, r), { qube });
  }

  /**
   * Where a planned volume is received: its pool's path for Wyng and its local name there. An
   * existing qube's volume is located by qubesd's qubes.xml when `readSettingsFromFiles` read it
   * (qubesd rewrites the file before it answers any change, and a volume's pool and vid change
   * only when its qube is created or removed), else through the Admin API.
   */
  private async volumeTarget(
    pools: Map<string, WyngPool>,
    qube: string,
    kind: VolumeKind,
    existing: boolean,
  ): Promise<{ poolPath: string; localName: string }> {
    const info = (existing ? this.fileVolumes.get(qube)?.get(kind) : undefined) ?? (await this.volumeOf(qube, kind));
    if (!info) throw new WqError('admin-api', `'${qube}' has no ${kind} volume.`, { qube });
    const pool = pools.get(info.pool);
    const path = pool ? poolPath(pool) : undefined;
    const local = pool ? localVolumeName(qube, kind, pool, info.vid) : undefined;
    if (!pool || path === undefined || local === undefined) {
      throw new WqError(
        'config',
        `pool '${info.pool}' of ${qube} is not lvm_thin or file-reflink; its volume cannot be restored.`,
        { qube },
      );
    }
    return { poolPath: path, localName: local };
  }

  /** The restore's writes and reads of the live system. */
  restorePorts(): QubesRestorePorts {
    const c = this.client;
    let pools: Promise<Map<string, WyngPool>> | undefined;
    return {
      kill: (q) => this.kill(q),
      remove: (q) => c.removeQube(q),
      create: (q, spec, pool) =>
        c.createQube({
          klass: spec.klass === 'AdminVM' ? 'AppVM' : spec.klass,
          name: q,
          label: spec.label,
          ...(spec.template && (spec.klass === 'AppVM' || spec.klass === 'DispVM') ? { template: spec.template } : {}),
          ...(pool ? { pool } : {}),
        }),
      setProperty: (q, name, value) => c.setProperty(q, name, value),
      resetProperty: (q, name) => c.resetProperty(q, name),
      setFeature: (q, name, value) => c.setFeature(q, name, value),
      removeFeature: (q, name) => c.removeFeature(q, name),
      addTag: (q, tag) => c.setTag(q, tag),
      removeTag: (q, tag) => c.removeTag(q, tag),
      assignDevice: (q, a) => c.assignDevice(q, a),
      unassignDevice: (q, a) => c.unassignDevice(q, a),
      setFirewall: (q, rules) => c.setFirewall(q, rules),
      writeNotes: async (q, klass, text) => this.writeNotes(q, klass, text),
      readNotes: async (q, klass) => this.readNotes(q, klass),
      readSettings: (names, parts) => this.readSettings(names, parts),
      volumeTarget: async (q, v, existing) => {
        pools ??= this.wyngPools();
        return this.volumeTarget(await pools, q, v.kind, existing === true);
      },
      // a file pool's volume: size and mtime (Wyng's receive sets the session's); LVM: unknown
      volumeStamp: async (t) => {
        pools ??= this.wyngPools();
        const filePool = [...(await pools).values()].some(
          (p) => p.driver === 'file-reflink' && poolPath(p) === t.poolPath,
        );
        if (!filePool) return undefined;
        const st = await stat(join(t.poolPath, t.localName), { bigint: true });
        return `${st.size}:${st.mtimeNs}`;
      },
      postStamp: async (q) => readPostStamp(this.config.stateDir, q),
      recordPostStamp: async (q, stamp) => writePostStamp(this.config.stateDir, q, stamp),
      post: (q, klass, sync) => this.postRestore(q, klass, sync),
    };
  }

  /** Admin API calls made so far: counts. */
  callSummary(): CallSummary {
    return this.client.log.summary();
  }

  /** Admin API calls made so far, one line each, then a summary line (what `--debug` prints). */
  callLog(): string[] {
    return this.client.log.format();
  }
}

/** Why a post-restore program failed: "not found" (sudo, or the program under sudo) or its exit status. */
function postFailure(
  command: string,
  r: { exitCode?: number | undefined; stderr?: unknown; code?: unknown; signal?: unknown },
): string {
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.code === 'ENOENT') return `${command}: sudo not found`;
  if (/command not found|No such file or directory/.test(stderr))
    return `${command}: ${command.split(' ')[0]} not found`;
  const status =
    r.exitCode !== undefined ? `exit ${r.exitCode}` : typeof r.signal === 'string' ? r.signal : 'no exit code';
  return `${command} failed (${status})`;
}
