// The fake qubesd's UNIX socket server: one call per connection, read to EOF (the client
// half-closes), answer, close — or close without answering (framing error, non-Qubes
// exception), exactly like qubesd. Plus what tests need: a call log, injected faults, and
// access to the state and the volume files.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseQubesXml } from '../../../src/core/qubesxml/index.ts';
import { classify, dispatch, LAB_PCI_DEVICES, type MethodKind } from './api.ts';
import { dumpQubesXml } from './dump.ts';
import { startQube } from './lifecycle.ts';
import type { AppState, ApiVersion, ExposedDevice, HostInfo, Qube } from './model.ts';
import { seedState } from './seed.ts';
import { volumeImagePath } from './storage.ts';
import { encodeException, MAX_REQUEST_BYTES, parseRequest } from './wire.ts';

export interface Faults {
  /** the n-th call (1-based, counting every connection) gets a `2\0QubesException…` reply */
  failOnCall?: number | readonly number[];
  /** the n-th call is closed without any reply (what qubesd does on internal errors) */
  dropOnCall?: number | readonly number[];
  /** the n-th call is never answered (the connection stays open until stop()) */
  hangOnCall?: number | readonly number[];
  /** the exception a failing call gets (default QubesException "fake qubesd: injected failure") */
  failWith?: { type: string; message: string };
}

export interface FakeQubesdOptions {
  /** where to listen; default: a new temp dir's `qubesd.sock` */
  socketPath?: string;
  /** qubes.xml to seed from: a path, or the XML text itself */
  qubesXml: string;
  /** root of the fake's files: qubes.xml paths such as /var/lib/qubes live below it */
  poolsDir: string;
  /** '4.3' (default): the 4.3+/4.4 device API (Assign/Assigned/…); '4.2': List/Attach/Detach */
  api?: ApiVersion;
  faults?: Faults;
  /** report qubes.xml paths (e.g. /var/lib/qubes) in pool.Info/volume.Info instead of the real ones */
  reportSeedPaths?: boolean;
  /**
   * size of new volume files: 'declared' = their nominal size (sparse), else at most this many bytes
   * (default 1 MiB)
   */
  volumeFileSize?: 'declared' | number;
  host?: Partial<HostInfo>;
  /** devices backend qubes expose (default: dom0's PCI devices of the qubesd lab) */
  exposedDevices?: readonly ExposedDevice[];
  /** default ['pci', 'block'] */
  deviceClasses?: readonly string[];
  /** qubes to start right after seeding */
  running?: readonly string[];
  /** extra kernel versions to install */
  kernels?: readonly string[];
  /** save the state to `<poolsDir>/var/lib/qubes/qubes.xml` after each change, like qubesd (default true) */
  saveQubesXml?: boolean;
  /**
   * qubesd started in offline mode (`offline_mode=True`, no hypervisor): every qube Halted, starting a
   * qube or listing dom0's PCI devices fails with "VMM operations disabled in offline mode", and the
   * host values are qubesd's offline defaults (OFFLINE_HOST) unless `host` says otherwise
   */
  offline?: boolean;
}

export interface CallLogEntry {
  seq: number;
  method: string;
  arg: string;
  src: string;
  dest: string;
  payloadLength: number;
  /** the method's qubesd classification; 'invalid' for framing errors and unknown methods */
  kind: MethodKind | 'invalid';
  /** kind is write or execute */
  writes: boolean;
  outcome: 'ok' | 'exception' | 'dropped' | 'fault-fail' | 'fault-drop' | 'fault-hang';
  excType?: string;
  /** why a call was dropped (framing error, Python exception qubesd would log) */
  why?: string;
  durationMs: number;
}

export interface FakeQubesd {
  readonly socketPath: string;
  readonly callLog: CallLogEntry[];
  readonly state: AppState;
  stop(): Promise<void>;
  setFaults(faults: Faults): void;
  /** the real path of a volume's image (`….img`) for Wyng, or undefined */
  volumePath(qube: string, volume: string): string | undefined;
  /** the current state as a Core3 qubes.xml */
  dumpQubesXml(): string;
  /** sends raw request bytes and returns the raw reply (for tests) */
  rawCall(request: Buffer, halfClose?: boolean): Promise<Buffer>;
}

export const DEFAULT_HOST: HostInfo = { memoryMiB: 32768, cpus: 8, dom0MaxmemMiB: 4096 };
/** qubesd's values without a hypervisor: 42 CPUs, (2^64 - 1) KiB of memory, dom0 maxmem from Xen's default */
export const OFFLINE_HOST: HostInfo = { memoryMiB: (2n ** 64n - 1n) / 1024n, cpus: 42, dom0MaxmemMiB: 4096 };

function hits(spec: number | readonly number[] | undefined, n: number): boolean {
  if (spec === undefined) return false;
  return typeof spec === 'number' ? spec === n : spec.includes(n);
}

export async function startFakeQubesd(opts: FakeQubesdOptions): Promise<FakeQubesd> {
  const xml = opts.qubesXml.trimStart().startsWith('<') ? opts.qubesXml : readFileSync(opts.qubesXml);
  const system = parseQubesXml(xml, { source: 'fake qubesd seed' });
  const state = seedState(system, {
    api: opts.api ?? '4.3',
    root: resolve(opts.poolsDir),
    host: { ...(opts.offline === true ? OFFLINE_HOST : DEFAULT_HOST), ...opts.host },
    exposed: opts.exposedDevices ?? LAB_PCI_DEVICES,
    deviceClasses: opts.deviceClasses ?? ['pci', 'block'],
    reportSeedPaths: opts.reportSeedPaths ?? false,
    volumeFileSize: opts.volumeFileSize ?? 1 << 20,
    kernels: opts.kernels ?? [],
    offline: opts.offline ?? false,
  });
  if (opts.offline === true && (opts.running ?? []).length > 0)
    throw new Error('fake qubesd: offline mode runs no qube');
  for (const name of opts.running ?? []) {
    const q = state.qubes.get(name);
    if (q === undefined) throw new Error(`fake qubesd: cannot start unknown qube ${name}`);
    startQube(state, q);
  }
  const qubesXmlPath = join(state.root, 'var', 'lib', 'qubes', 'qubes.xml');
  const save =
    opts.saveQubesXml === false
      ? () => undefined
      : () => {
          mkdirSync(dirname(qubesXmlPath), { recursive: true });
          writeFileSync(`${qubesXmlPath}~`, dumpQubesXml(state), { mode: 0o660 });
          renameSync(`${qubesXmlPath}~`, qubesXmlPath);
        };
  save();
  let ownDir: string | undefined;
  let socketPath = opts.socketPath;
  if (socketPath === undefined) {
    ownDir = mkdtempSync(join(tmpdir(), 'fake-qubesd-'));
    socketPath = join(ownDir, 'qubesd.sock');
  }
  let faults: Faults = { ...opts.faults };
  const callLog: CallLogEntry[] = [];
  const open = new Set<Socket>();
  let seq = 0;

  const server: Server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => sock.destroy());
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    const n = ++seq;
    const started = performance.now();
    sock.on('data', (d: Buffer) => {
      if (aborted) return;
      size += d.length;
      if (size > MAX_REQUEST_BYTES) {
        aborted = true;
        callLog.push(
          entry(n, started, {
            method: '',
            arg: '',
            src: '',
            dest: '',
            payloadLength: size,
            kind: 'invalid',
            outcome: 'dropped',
            why: 'request too long',
          }),
        );
        sock.destroy();
        return;
      }
      chunks.push(d);
    });
    sock.on('end', () => {
      if (aborted) return;
      const data = Buffer.concat(chunks);
      const parsed = parseRequest(data);
      const head = parsed.ok
        ? {
            method: parsed.request.method.toString('latin1'),
            arg: parsed.request.arg.toString('latin1'),
            src: parsed.request.src.toString('latin1'),
            dest: parsed.request.dest.toString('latin1'),
            payloadLength: parsed.request.payload.length,
          }
        : { method: '', arg: '', src: '', dest: '', payloadLength: 0 };
      if (hits(faults.hangOnCall, n)) {
        callLog.push(entry(n, started, { ...head, kind: classify(state, head.method), outcome: 'fault-hang' }));
        return; // never answered; closed by stop()
      }
      if (hits(faults.dropOnCall, n)) {
        callLog.push(entry(n, started, { ...head, kind: classify(state, head.method), outcome: 'fault-drop' }));
        sock.destroy();
        return;
      }
      if (hits(faults.failOnCall, n)) {
        const f = faults.failWith ?? { type: 'QubesException', message: 'fake qubesd: injected failure' };
        callLog.push(
          entry(n, started, { ...head, kind: classify(state, head.method), outcome: 'fault-fail', excType: f.type }),
        );
        sock.end(encodeException(f.type, f.message));
        return;
      }
      if (!parsed.ok) {
        callLog.push(entry(n, started, { ...head, kind: 'invalid', outcome: 'dropped', why: parsed.why }));
        sock.destroy();
        return;
      }
      const d = dispatch(state, parsed.request);
      // like qubesd, a change is saved to qubes.xml before the reply (part of the call's time)
      if (d.outcome === 'ok' && (d.kind === 'write' || d.kind === 'execute')) save();
      callLog.push(
        entry(n, started, {
          ...head,
          kind: d.kind,
          outcome: d.outcome,
          ...(d.excType !== undefined ? { excType: d.excType } : {}),
          ...(d.why !== undefined ? { why: d.why } : {}),
        }),
      );
      if (d.reply === null) sock.destroy();
      else sock.end(d.reply);
    });
  });

  // like qubesd's cleanup_socket: a stale socket file is removed, a live one is an error
  if (existsSync(socketPath)) {
    const alive = await new Promise<boolean>((res) => {
      const probe = connect(socketPath as string);
      probe.on('connect', () => {
        probe.destroy();
        res(true);
      });
      probe.on('error', () => res(false));
    });
    if (alive) throw new Error(`fake qubesd: socket already in use: ${socketPath}`);
    unlinkSync(socketPath);
  }
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(socketPath, () => {
      server.off('error', rej);
      res();
    });
  });

  const path = socketPath;
  return {
    socketPath: path,
    callLog,
    state,
    async stop() {
      for (const s of open) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
      if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
    },
    setFaults(f: Faults) {
      faults = { ...f };
    },
    volumePath(qube: string, volume: string) {
      const q: Qube | undefined = state.qubes.get(qube);
      const v = q?.volumes.get(volume);
      return v === undefined ? undefined : volumeImagePath(state, v);
    },
    dumpQubesXml() {
      return dumpQubesXml(state);
    },
    rawCall(request: Buffer, halfClose = true) {
      return rawCall(path, request, halfClose);
    },
  };
}

function entry(seq: number, started: number, e: Omit<CallLogEntry, 'seq' | 'durationMs' | 'writes'>): CallLogEntry {
  return { seq, ...e, writes: e.kind === 'write' || e.kind === 'execute', durationMs: performance.now() - started };
}

/** One raw exchange with a qubesd-like socket: send, half-close, read to EOF. */
export function rawCall(socketPath: string, request: Buffer, halfClose = true): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    const s = connect(socketPath);
    s.on('connect', () => {
      s.write(request);
      if (halfClose) s.end();
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => {
      // a peer that aborts the connection may surface as ECONNRESET/EPIPE: that is "no reply"
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') res(Buffer.concat(chunks));
      else rej(e);
    });
    s.on('close', () => res(Buffer.concat(chunks)));
  });
}
