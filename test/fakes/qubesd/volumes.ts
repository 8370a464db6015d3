// Volume configuration of qubes the way qubesd derives it: per-class defaults, snapshot
// volumes taking pool/size/source from the template chain, pool defaults from the global
// default_pool_* properties, CreateInPool's `pool=` / `pool:<volume>=` patching.
import { qerr } from './errors.ts';
import type { AppState, Qube, Volume } from './model.ts';
import { globalProp, templateOf, NOVAL } from './props.ts';
import { PRIVATE_IMG_SIZE, ROOT_IMG_SIZE, poolRevisionsToKeep, volumeSize } from './storage.ts';

interface VolumeDefault {
  name: string;
  snapOnStart: boolean;
  saveOnStop: boolean;
  rw: boolean;
  size?: number;
  /** the volume snapshots the template's same-named volume */
  fromTemplate?: boolean;
}

const KERNEL: VolumeDefault = { name: 'kernel', snapOnStart: false, saveOnStop: false, rw: false };

export function defaultVolumes(klass: string): VolumeDefault[] {
  switch (klass) {
    case 'AppVM':
      return [
        { name: 'root', snapOnStart: true, saveOnStop: false, rw: true, fromTemplate: true },
        { name: 'private', snapOnStart: false, saveOnStop: true, rw: true, size: PRIVATE_IMG_SIZE },
        { name: 'volatile', snapOnStart: false, saveOnStop: false, rw: true, size: ROOT_IMG_SIZE },
        KERNEL,
      ];
    case 'DispVM':
      return [
        { name: 'root', snapOnStart: true, saveOnStop: false, rw: true, fromTemplate: true },
        { name: 'private', snapOnStart: true, saveOnStop: false, rw: true, fromTemplate: true },
        { name: 'volatile', snapOnStart: false, saveOnStop: false, rw: true, size: ROOT_IMG_SIZE + PRIVATE_IMG_SIZE },
        KERNEL,
      ];
    case 'TemplateVM':
    case 'StandaloneVM':
      return [
        { name: 'root', snapOnStart: false, saveOnStop: true, rw: true, size: ROOT_IMG_SIZE },
        { name: 'private', snapOnStart: false, saveOnStop: true, rw: true, size: PRIVATE_IMG_SIZE },
        { name: 'volatile', snapOnStart: false, saveOnStop: false, rw: true, size: ROOT_IMG_SIZE },
        KERNEL,
      ];
    default:
      return [];
  }
}

function dirPrefix(q: Qube): string {
  return q.klass === 'TemplateVM' ? 'vm-templates' : 'appvms';
}

/** Storage._update_volume_config_source: the first non-snapshot volume up the template chain */
function snapshotSource(app: AppState, q: Qube, volName: string): Volume | undefined {
  let t = templateOf(app, q);
  const seen = new Set<string>();
  while (t !== undefined && !seen.has(t.name)) {
    seen.add(t.name);
    const v = t.volumes.get(volName);
    if (v === undefined) return undefined;
    if (v.source === null) return v;
    t = templateOf(app, t);
  }
  return undefined;
}

function poolName(app: AppState, volName: string): string {
  const v = globalProp(app, `default_pool_${volName}`);
  if (v === NOVAL || v === null) throw qerr('QubesException', `Cannot determine default storage pool`);
  return v;
}

export interface PoolChoice {
  /** CreateInPool `pool=` */
  pool?: string;
  /** CreateInPool `pool:<volume>=` */
  pools?: Map<string, string>;
}

/**
 * The volumes of a new qube (qubesd's __init__ volume_config + _patch_volume_config +
 * Storage.init_volume). For a DispVM, pool/rw come from the disposable template's volumes.
 */
export function newQubeVolumes(app: AppState, q: Qube, choice: PoolChoice = {}): Map<string, Volume> {
  const out = new Map<string, Volume>();
  const base = q.klass === 'DispVM' ? templateOf(app, q) : undefined;
  for (const d of defaultVolumes(q.klass)) {
    let pool: string | undefined;
    let rw = d.rw;
    if (base !== undefined) {
      const bv = base.volumes.get(d.name);
      if (bv !== undefined) {
        pool = bv.pool;
        rw = bv.rw;
      }
    }
    if (choice.pool !== undefined && !d.snapOnStart && rw) pool = choice.pool;
    const per = choice.pools?.get(d.name);
    if (per !== undefined) {
      if (d.snapOnStart) {
        throw qerr(
          'QubesException',
          `Snapshot volume ${d.name} must be in the same pool as its origin (${d.name} volume ` +
            `of template),cannot move to pool ${per} `,
        );
      }
      pool = per;
    }
    let size = d.size ?? 0;
    let source: string | null = null;
    if (d.fromTemplate === true) {
      const src = snapshotSource(app, q, d.name);
      if (src !== undefined) {
        source = src.vid;
        pool = src.pool;
        size = volumeSize(app, src);
      }
    }
    const poolNameFinal = pool ?? poolName(app, d.name);
    const poolObj = app.pools.get(poolNameFinal);
    if (poolObj === undefined) throw qerr('QubesException', `Unknown storage pool ${poolNameFinal}`);
    out.set(d.name, {
      name: d.name,
      pool: poolNameFinal,
      vid: poolObj.driver === 'linux-kernel' ? '' : volumeVidFor(app, q, poolObj.driver, poolObj.config, d.name),
      revisionsToKeep: poolRevisionsToKeep(poolObj),
      rw,
      saveOnStop: d.saveOnStop,
      snapOnStart: d.snapOnStart,
      size,
      source,
      ephemeral: null,
    });
  }
  return out;
}

function volumeVidFor(app: AppState, q: Qube, driver: string, config: Map<string, string>, volName: string): string {
  void app;
  if (driver === 'lvm_thin') return `${config.get('volume_group') ?? 'qubes_dom0'}/vm-${q.name}-${volName}`;
  return `${dirPrefix(q)}/${q.name}/${volName}`;
}

/** template_changed_update_storage: snapshot volumes follow the (new) template */
export function retargetSnapshotVolumes(app: AppState, q: Qube): void {
  for (const d of defaultVolumes(q.klass)) {
    if (d.fromTemplate !== true) continue;
    const vol = q.volumes.get(d.name);
    const src = snapshotSource(app, q, d.name);
    if (vol === undefined || src === undefined) continue;
    const pool = app.pools.get(src.pool);
    vol.source = src.vid;
    vol.pool = src.pool;
    vol.size = volumeSize(app, src);
    if (pool !== undefined) vol.revisionsToKeep = poolRevisionsToKeep(pool);
  }
}
