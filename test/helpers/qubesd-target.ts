// Which qubesd the contract tests run against:
//  - QUBESD_REAL_SOCKET set → that socket (a real qubesd, e.g. a qubesd lab);
//  - else the fake qubesd of test/fakes/qubesd on a temp socket, seeded with the recorded
//    qubes.xml (test/data/qubesd/qubes.xml);
//  - QUBESD_CONTRACT_TARGET=replay → a replay of the recorded qubesd bytes, which can only serve
//    the read-only calls (`writable: false`): a check of the read-only tests against the bytes
//    of the real daemon without a lab.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmListEntry } from '../../src/core/qubesapi/parse.ts';
import { startFakeQubesd } from '../fakes/qubesd/index.ts';
import { startReplay } from './qubesd-replay.ts';
import { QUBESD_CONFORMANCE, exchanges } from './qubesd-transcripts.ts';

export interface QubesdTarget {
  kind: 'real' | 'fake' | 'replay';
  socketPath: string;
  /** whether write tests (a wq-test-* qube) can run here */
  writable: boolean;
  /** the qubes the read-only tests read (the replay has recordings for `work` only) */
  readQubes(live: readonly VmListEntry[]): string[];
  /** printed once by the test: what this target is */
  note?: string;
  close(): Promise<void>;
}

const allButDom0 = (live: readonly VmListEntry[]): string[] =>
  live.filter((q) => q.klass !== 'AdminVM').map((q) => q.name);

/** Every recorded exchange the read-only contract tests send, for the replay target. */
const READ_ONLY_RECORDINGS = [
  'admin.vm.List/all',
  'admin.vm.property.GetAll/work',
  'admin.vm.property.Get/netvm-work',
  'admin.property.GetAll/ok',
  'admin.property.Get/default_netvm',
  'protocol/dest-missing-vm',
  'admin.vm.property.Get/no_such_prop-work',
  'admin.pool.Info/missing',
  'admin.vm.feature.List/work',
  'admin.vm.feature.Get/ok',
  'admin.vm.feature.Get/value-with-spaces',
  'admin.vm.tag.List/work',
  'admin.deviceclass.List/ok',
  'admin.vm.property.List/dom0',
  'admin.vm.device.pci.Assigned/none',
  'admin.pool.List/ok',
  'admin.pool.Info/varlibqubes',
  'admin.pool.Info/vm-pool',
  'admin.pool.Info/linux-kernel',
  'admin.label.List/ok',
  'admin.label.Get/ok',
  'admin.label.Index/ok',
  'admin.vm.volume.List/work',
  'admin.vm.volume.Info/work-private',
];

export async function qubesdTarget(): Promise<QubesdTarget> {
  const real = process.env.QUBESD_REAL_SOCKET;
  if (real !== undefined && real !== '') {
    return {
      kind: 'real',
      socketPath: real,
      writable: true,
      readQubes: allButDom0,
      note: `real qubesd at ${real}`,
      close: async () => undefined,
    };
  }
  if (process.env.QUBESD_CONTRACT_TARGET !== 'replay') {
    const poolsDir = mkdtempSync(join(tmpdir(), 'wq-fake-qubesd-'));
    const fake = await startFakeQubesd({ qubesXml: join(QUBESD_CONFORMANCE, 'qubes.xml'), poolsDir });
    return {
      kind: 'fake',
      socketPath: fake.socketPath,
      writable: true,
      readQubes: allButDom0,
      note: 'fake qubesd (test/fakes/qubesd) seeded with the recorded qubes.xml',
      close: async () => {
        await fake.stop();
        rmSync(poolsDir, { recursive: true, force: true });
      },
    };
  }
  const replay = await startReplay(exchanges(...READ_ONLY_RECORDINGS), { reuse: true });
  return {
    kind: 'replay',
    socketPath: replay.socketPath,
    writable: false,
    readQubes: () => ['work'],
    note: 'replaying the recorded qubesd bytes (read-only part only)',
    close: async () => {
      const problems = replay.unmatched;
      await replay.close();
      if (problems.length > 0) throw new Error(`requests not in the recordings: ${problems.join(', ')}`);
    },
  };
}
