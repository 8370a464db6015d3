// The fake qubesd's in-memory state: what qubesd keeps in qubes.xml plus the run-time facts
// (power state, xid, live device attachments, clone tokens). Plain mutable records; the
// behaviour lives in props.ts, storage.ts, devices.ts and api.ts.
import type { PowerState, QubeClass } from '../../../src/core/qubes/model.ts';

export type { PowerState, QubeClass };

/** The API generation the fake imitates: '4.3' = qubes-core-admin 4.3/4.4 (device Assign API), '4.2' = List/Attach. */
export type ApiVersion = '4.3' | '4.2';

export interface Label {
  index: number;
  name: string;
  color: string;
}

export interface Pool {
  name: string;
  driver: string;
  /** config keys except name/driver, as qubes.xml holds them (dir_path, revisions_to_keep, …) */
  config: Map<string, string>;
  /** the directory that really holds this pool's files (a path below poolsDir) */
  realDir: string;
}

export interface Volume {
  name: string;
  pool: string;
  /** for linux-kernel volumes the vid is the qube's kernel (computed), stored here as given */
  vid: string;
  revisionsToKeep: number;
  rw: boolean;
  saveOnStop: boolean;
  snapOnStart: boolean;
  /** the volume's nominal size (qubesd's `_size`); the file size wins when a file exists */
  size: number;
  /** vid of the volume this one snapshots (same pool), or null */
  source: string | null;
  ephemeral: boolean | null;
}

export type AssignmentMode = 'required' | 'auto-attach' | 'ask-to-attach' | 'manual';

export interface Assignment {
  devclass: string;
  backend: string;
  port: string;
  /** `*` = any device in that port */
  deviceId: string;
  mode: AssignmentMode;
  /** frontend_domain as qubesd serialises it (null: not given in the Assign payload) */
  frontend: string | null;
  /** device options without the leading `_`, in insertion order */
  options: Array<[string, string]>;
}

/** A device a backend qube exposes (admin.vm.device.<class>.Available). */
export interface ExposedDevice {
  devclass: string;
  backend: string;
  port: string;
  deviceId: string;
  /** the `key='value'` pairs after device_id/port_id/devclass/backend_domain, serialised */
  extra: string;
}

export interface Qube {
  klass: QubeClass;
  name: string;
  qid: number;
  uuid: string;
  /** explicitly set properties (canonical API text; vm type: '' = None), except name/qid/uuid */
  props: Map<string, string>;
  features: Map<string, string>;
  tags: Set<string>;
  /** persistent assignments per device class, in the order made */
  assigned: Map<string, Assignment[]>;
  /** live attachments made with Attach (4.3) or non-persistent Attach (4.2) */
  attached: Map<string, Assignment[]>;
  /** volumes in qubesd's order (root, private, volatile, kernel) */
  volumes: Map<string, Volume>;
  power: PowerState;
  xid: number;
  /** firewall rules as admin.vm.firewall.Get prints them; null = no firewall.xml (accept all) */
  firewall: string[] | null;
  notes: string;
  /** a stable stand-in for Python's id() in repr() texts */
  pyId: string;
}

export interface HostInfo {
  /** global `maxmem` (MiB of host memory; a bigint for qubesd's offline value, above 2^53) */
  memoryMiB: number | bigint;
  /** global `no_cpus` */
  cpus: number;
  /** dom0's `maxmem` (MiB) */
  dom0MaxmemMiB: number;
}

export interface AppState {
  api: ApiVersion;
  host: HostInfo;
  globals: Map<string, string>;
  labels: Label[];
  pools: Map<string, Pool>;
  /** every qube, dom0 first, in load/creation order */
  qubes: Map<string, Qube>;
  deviceClasses: string[];
  exposed: ExposedDevice[];
  /** root under which qubesd's own system paths (/var/lib/qubes, …) live */
  root: string;
  /** whether pool.Info/volume.Info report the qubes.xml paths (true) or the real ones (false) */
  reportSeedPaths: boolean;
  /** size of newly created volume files: their nominal size, or a fixed number of bytes */
  volumeFileSize: 'declared' | number;
  /** test knob: free bytes a pool reports (its size becomes usage + this) instead of its file system's */
  poolFree?: Map<string, number>;
  nextXid: number;
  /** qubesd's offline mode (no hypervisor): every qube Halted, VMM operations refused */
  offline: boolean;
  cloneTokens: Map<string, { qube: string; volume: string; pool: string; vid: string }>;
}
