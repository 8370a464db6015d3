// Builds the fake's state from a qubes.xml, read with the product's own reader
// (src/core/qubesxml), and lays out the real files below the fake's root: pool directories,
// each qube's directory and volume images, the kernel directories.
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchivedSystem } from '../../../src/core/qubes/model.ts';
import type { AppState, ApiVersion, Assignment, ExposedDevice, HostInfo, Pool, Qube, Volume } from './model.ts';
import { NOVAL, kernelDir, vmProp } from './props.ts';
import { ensureSeededVolume, isFilePool, qubeDir, realPath } from './storage.ts';
import { newQubeVolumes } from './volumes.ts';

export interface SeedOptions {
  api: ApiVersion;
  root: string;
  host: HostInfo;
  exposed: readonly ExposedDevice[];
  deviceClasses: readonly string[];
  reportSeedPaths: boolean;
  volumeFileSize: 'declared' | number;
  /** qubes running from the start */
  running?: readonly string[];
  /** extra installed kernel versions */
  kernels?: readonly string[];
  /** qubesd's offline mode (see AppState.offline) */
  offline?: boolean;
}

function pyId(qid: number): string {
  return `0x7f00${(0x10000000 + qid * 0x1230).toString(16)}`;
}

export function emptyQube(klass: Qube['klass'], name: string, qid: number, uuid: string): Qube {
  return {
    klass,
    name,
    qid,
    uuid,
    props: new Map(),
    features: new Map(),
    tags: new Set(),
    assigned: new Map(),
    attached: new Map(),
    volumes: new Map(),
    power: klass === 'AdminVM' ? 'Running' : 'Halted',
    xid: klass === 'AdminVM' ? 0 : -1,
    firewall: null,
    notes: '',
    pyId: pyId(qid),
  };
}

export { pyId };

function bool(text: string | undefined, dflt: boolean): boolean {
  if (text === undefined) return dflt;
  return ['1', 'yes', 'true', 'on'].includes(text.toLowerCase());
}

export function seedState(system: ArchivedSystem, opts: SeedOptions): AppState {
  const app: AppState = {
    api: opts.api,
    host: opts.host,
    globals: new Map(Object.entries(system.globals)),
    labels: system.labels.map((l) => ({ ...l })),
    pools: new Map(),
    qubes: new Map(),
    deviceClasses: [...opts.deviceClasses],
    exposed: [...opts.exposed],
    root: opts.root,
    reportSeedPaths: opts.reportSeedPaths,
    volumeFileSize: opts.volumeFileSize,
    nextXid: 1,
    offline: opts.offline ?? false,
    cloneTokens: new Map(),
  };
  for (const p of system.pools) {
    const config = new Map(Object.entries(p.config));
    const seedDir = config.get('dir_path');
    const realDir = seedDir !== undefined ? realPath(app, seedDir) : join(opts.root, 'pools', p.name);
    const pool: Pool = { name: p.name, driver: p.driver, config, realDir };
    mkdirSync(realDir, { recursive: true });
    if (isFilePool(pool)) {
      mkdirSync(join(realDir, 'appvms'), { recursive: true });
      mkdirSync(join(realDir, 'vm-templates'), { recursive: true });
    }
    app.pools.set(p.name, pool);
  }
  // dom0 first, then the qubes in file order
  const ordered = [...system.qubes].sort((a, b) => (a.klass === 'AdminVM' ? -1 : 0) - (b.klass === 'AdminVM' ? -1 : 0));
  if (!ordered.some((q) => q.klass === 'AdminVM')) {
    app.qubes.set('dom0', emptyQube('AdminVM', 'dom0', 0, '00000000-0000-0000-0000-000000000000'));
  }
  for (const s of ordered) {
    const props = new Map(Object.entries(s.properties));
    const isAdmin = s.klass === 'AdminVM';
    const qid = isAdmin ? 0 : Number(props.get('qid') ?? '0');
    const uuid = isAdmin ? '00000000-0000-0000-0000-000000000000' : (props.get('uuid') ?? randomUUID());
    const q = emptyQube(s.klass, isAdmin ? 'dom0' : s.name, qid, uuid);
    if (!isAdmin) {
      props.delete('name');
      props.delete('qid');
      props.delete('uuid');
    }
    q.props = props;
    q.features = new Map(Object.entries(s.features));
    q.tags = new Set(s.tags);
    for (const d of s.devices) {
      const a: Assignment = {
        devclass: d.devclass,
        backend: d.backend,
        port: d.port,
        deviceId: d.deviceId,
        mode: d.mode,
        frontend: q.name,
        options: Object.entries(d.options),
      };
      const list = q.assigned.get(d.devclass) ?? [];
      list.push(a);
      q.assigned.set(d.devclass, list);
    }
    if (s.firewall !== undefined && s.firewall.length > 0) q.firewall = [...s.firewall];
    app.qubes.set(q.name, q);
  }
  // volumes: from <volume-config>, else what qubesd would derive at load
  for (const s of ordered) {
    const q = app.qubes.get(s.klass === 'AdminVM' ? 'dom0' : s.name) as Qube;
    if (q.klass === 'AdminVM' || q.klass === 'RemoteVM') continue;
    if (s.volumes !== undefined && s.volumes.length > 0) {
      for (const v of s.volumes) {
        const c = v.config;
        const pool = app.pools.get(c.pool ?? '');
        const vol: Volume = {
          name: v.name,
          pool: c.pool ?? '',
          vid: c.vid ?? '',
          revisionsToKeep: Number(
            c.revisions_to_keep ??
              (pool?.driver === 'linux-kernel' ? '0' : (pool?.config.get('revisions_to_keep') ?? '1')),
          ),
          rw: bool(c.rw, false),
          saveOnStop: bool(c.save_on_stop, false),
          snapOnStart: bool(c.snap_on_start, false),
          size: Number(c.size ?? '0'),
          source: c.source === undefined || c.source === '' ? null : c.source,
          ephemeral: c.ephemeral === undefined ? null : bool(c.ephemeral, false),
        };
        q.volumes.set(v.name, vol);
      }
    }
  }
  for (const s of ordered) {
    const q = app.qubes.get(s.klass === 'AdminVM' ? 'dom0' : s.name) as Qube;
    if (q.klass === 'AdminVM' || q.klass === 'RemoteVM' || q.volumes.size > 0) continue;
    q.volumes = newQubeVolumes(app, q);
  }
  // files: kernels, qube directories, origin images
  const kernels = new Set<string>(opts.kernels ?? []);
  const dk = app.globals.get('default_kernel');
  if (dk !== undefined && dk !== '') kernels.add(dk);
  for (const q of app.qubes.values()) {
    if (q.klass === 'AdminVM' || q.klass === 'RemoteVM') continue;
    const k = vmProp(app, q, 'kernel');
    if (k !== NOVAL && k !== null && k !== '') kernels.add(k);
  }
  for (const k of kernels) installKernel(app, k);
  for (const q of app.qubes.values()) {
    if (q.klass === 'AdminVM' || q.klass === 'RemoteVM') continue;
    mkdirSync(qubeDir(app, q), { recursive: true });
    for (const vol of q.volumes.values()) ensureSeededVolume(app, vol);
  }
  return app;
}

/** A kernel directory as qubes-kernel-vm-support lays it out (empty files are enough here). */
export function installKernel(app: AppState, version: string): void {
  const dir = kernelDir(app, version);
  mkdirSync(dir, { recursive: true });
  for (const f of ['vmlinuz', 'initramfs', 'modules.img']) closeSync(openSync(join(dir, f), 'a'));
}
