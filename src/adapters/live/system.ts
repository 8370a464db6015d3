// The live Qubes system as backup and restore see it: a thin layer over the Admin API client
// (reads batched and cached there) plus the files qubesd keeps per qube (notes.txt).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import type { VolumeKind } from '../../core/archive.ts';
import type { PoolInfo as BackupPoolInfo, VolumeInfo } from '../../core/backup/plan.ts';
import type { Config } from '../../core/config.ts';
import { WqError } from '../../core/errors.ts';
import type { QubeClass, QubeSettings } from '../../core/qubes/model.ts';
import { QubesApiError } from '../../core/qubesapi/errors.ts';
import type { PoolInfo } from '../../core/qubesapi/parse.ts';
import { qubeDirOf } from '../../core/restore/archived.ts';
import { SETTINGS_PARTS, type SettingsPart } from '../../core/restore/apply.ts';
import type { LiveQube } from '../../core/restore/plan.ts';
import { AdminClient, socketTransportFromConfig } from '../qubesd/index.ts';

export function openAdminClient(config: Config): AdminClient {
  return new AdminClient(socketTransportFromConfig(config));
}

/** The Admin API pool record in the form backup planning uses. */
export function backupPoolOf(p: PoolInfo): BackupPoolInfo {
  if (p.driver === 'lvm_thin' && p.config.volume_group && p.config.thin_pool) {
    return { name: p.name, driver: 'lvm_thin', volumeGroup: p.config.volume_group, thinPool: p.config.thin_pool };
  }
  if (p.driver === 'file-reflink' && p.config.dir_path)
    return { name: p.name, driver: 'file-reflink', dirPath: p.config.dir_path };
  return { name: p.name, driver: p.driver };
}

export class LiveSystem {
  constructor(
    readonly client: AdminClient,
    private readonly config: Config,
  ) {}

  async listQubes(): Promise<LiveQube[]> {
    return (await this.client.listQubes()).map((q) => ({ name: q.name, klass: q.klass, state: q.state }));
  }

  async includeInBackups(qube: string): Promise<boolean> {
    return (await this.client.getProperty(qube, 'include_in_backups')).value === 'True';
  }

  /** pool and vid of a qube's volume, or undefined when the qube has no such volume. */
  async volumeInfo(qube: string, kind: VolumeKind): Promise<VolumeInfo | undefined> {
    try {
      const info = await this.client.volumeInfo(qube, kind);
      return { pool: info.pool, vid: info.vid };
    } catch (err) {
      // qubesd: an unknown volume name is `PermissionDenied: Argument not in '<q> volumes'`
      if (err instanceof QubesApiError && err.type === 'PermissionDenied') return undefined;
      throw err;
    }
  }

  async pools(): Promise<Map<string, BackupPoolInfo>> {
    return new Map((await this.client.pools()).map((p) => [p.name, backupPoolOf(p)]));
  }

  /** Every pool as the Admin API describes it (for --pool-info). */
  rawPools(): Promise<PoolInfo[]> {
    return this.client.pools();
  }

  hasTag(qube: string, tag: string): Promise<boolean> {
    return this.client.hasTag(qube, tag);
  }

  setBackupTimestamp(qube: string, seconds: number): Promise<void> {
    return this.client.setProperty(qube, 'backup_timestamp', seconds);
  }

  /**
   * Settings of these qubes, firewall included. The client's read cache is emptied by every
   * write, so a read after a change always goes to qubesd.
   */
  async readSettings(
    names: readonly string[],
    parts?: ReadonlyMap<string, ReadonlySet<SettingsPart>>,
  ): Promise<Map<string, QubeSettings>> {
    if (parts === undefined) return this.client.readQubeSettings(names, { firewall: true });
    const live = new Map((await this.client.listQubes()).map((q) => [q.name, q]));
    const out = new Map<string, QubeSettings>();
    await Promise.all(
      names.map(async (name) => {
        const q = live.get(name);
        if (q === undefined) return;
        const want = parts.get(name) ?? new Set<SettingsPart>(SETTINGS_PARTS);
        const [props, features, tags, devices, firewall] = await Promise.all([
          want.has('properties') ? this.client.getAllProperties(name) : undefined,
          want.has('features') ? this.client.getFeatures(name) : {},
          want.has('tags') ? this.client.listTags(name) : [],
          want.has('devices')
            ? this.client.deviceClasses().then((cs) => Promise.all(cs.map((c) => this.client.assignedDevices(name, c))))
            : [],
          want.has('firewall') ? this.client.getFirewall(name) : undefined,
        ]);
        const properties: Record<string, string> = {};
        for (const [k, v] of props ?? []) if (!v.isDefault) properties[k] = v.value;
        out.set(name, {
          name,
          klass: q.klass,
          properties,
          features,
          tags: [...tags].sort(),
          devices: devices.flat(),
          ...(firewall !== undefined ? { firewall } : {}),
        });
      }),
    );
    return out;
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

  globals(): Promise<Record<string, string>> {
    return this.readGlobalValues();
  }

  /** Global property values, explicit or default (for --ignore-missing fallbacks). */
  private async readGlobalValues(): Promise<Record<string, string>> {
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

  notesPath(qube: string, klass: QubeClass): string {
    return join(this.config.qubesDir, qubeDirOf(qube, klass), 'notes.txt');
  }

  readNotes(qube: string, klass: QubeClass): string {
    try {
      return readFileSync(this.notesPath(qube, klass), 'utf8');
    } catch {
      return '';
    }
  }

  /** Replaces notes.txt atomically: a temp file in the same directory, then rename. */
  writeNotes(qube: string, klass: QubeClass, text: string): void {
    const path = this.notesPath(qube, klass);
    mkdirSync(dirname(path), { recursive: true, mode: 0o775 });
    const tmp = `${path}.wyng-qubes-${process.pid}.tmp`;
    try {
      writeFileSync(tmp, text, { mode: 0o664, flag: 'wx' });
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new WqError('internal', `Could not write ${path}: ${(err as Error).message}`, { qube });
    }
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

  /** Menu refresh after a restore (SPEC.md "restore" post steps), as the dom0 user. */
  async postRestore(qube: string, klass: QubeClass): Promise<void> {
    const asUser = ['-u', '#1000'];
    if (klass === 'TemplateVM' || klass === 'StandaloneVM') {
      await this.client.startQube(qube);
      await execa(this.config.sudo, [...asUser, 'qvm-sync-appmenus', qube], { reject: false });
      await this.client.shutdownQube(qube, { wait: true }).catch(() => undefined);
    }
    const r = await execa(this.config.sudo, [...asUser, 'qvm-appmenus', '--update', qube], { reject: false });
    if (r.exitCode !== 0)
      throw new WqError('internal', `qvm-appmenus --update ${qube} failed (exit ${r.exitCode ?? '?'})`, { qube });
  }
}
