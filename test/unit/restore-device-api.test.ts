// Restore planning for the Qubes 4.2 device API: what a 4.2 qubesd can hold (projectForDeviceApi)
// and how the plan shows it (renderPlan), on the recorded 4.2 and 4.4 qubes.xml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectForDeviceApi, readArchivedSource } from '../../src/core/restore/archived.ts';
import { diffSettings } from '../../src/core/restore/diff.ts';
import { renderPlan } from '../../src/core/restore/render.ts';
import type { RestorePlan } from '../../src/core/restore/plan.ts';
import type { QubeSettings } from '../../src/core/qubes/model.ts';

const R42_XML = join(import.meta.dirname, '..', 'data', 'qubesd-r4.2', 'qubes.xml');
const R44_XML = join(import.meta.dirname, '..', 'fixtures', 'qubes-xml', 'lab-scenario.xml');

const source = (path: string): ReturnType<typeof readArchivedSource> =>
  readArchivedSource(new Map([['qubes.xml', readFileSync(path)]]), 'S1');

const sysNet = (s: ReturnType<typeof readArchivedSource>): QubeSettings => {
  const q = s.system.qubes.find((x) => x.name === 'sys-net');
  assert.ok(q, 'sys-net is archived');
  return q;
};

test('a 4.2 archive onto 4.2: the persistent PCI attachment is kept as it is, nothing widened', () => {
  const src = source(R42_XML);
  assert.deepEqual(sysNet(src).devices, [
    {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_03.0',
      deviceId: '*',
      mode: 'required',
      options: { 'no-strict-reset': 'True' },
    },
  ]);
  const { source: projected, widened } = projectForDeviceApi(src, '4.2');
  assert.deepEqual(sysNet(projected).devices, sysNet(src).devices);
  assert.deepEqual([...widened], []);
});

test('a 4.4 archive onto 4.2: identity and mode are dropped (what 4.2 reads back) and the qube is named', () => {
  const src = source(R44_XML);
  const before = sysNet(src).devices;
  assert.ok(
    before.some((d) => d.deviceId !== '*'),
    'the 4.4 fixture assigns by device identity',
  );
  const { source: projected, widened } = projectForDeviceApi(src, '4.2');
  assert.deepEqual(
    sysNet(projected).devices,
    before.map((d) => ({ ...d, deviceId: '*', mode: 'required' })),
  );
  assert.ok(widened.has('sys-net'));
  // on 4.3+ nothing changes
  assert.equal(projectForDeviceApi(src, '4.3').source, src);
});

test('the plan shows 4.2 device changes as persistent attachments by port', () => {
  const target = sysNet(source(R42_XML));
  const current: QubeSettings = { ...target, devices: [] };
  const changes = diffSettings({ target, current, skip: new Set(), normalise: (_name, v) => v });
  assert.equal(changes.devices.length, 1);
  const plan = (deviceApi: '4.2' | '4.3'): RestorePlan =>
    ({
      session: 'S1',
      order: ['sys-net'],
      notMatched: [],
      deviceApi,
      qubes: [
        {
          name: 'sys-net',
          klass: 'AppVM',
          action: 'overwrite',
          volumes: [],
          changes,
          changeCount: 1,
          deferred: [],
          problems: [],
          fails: false,
        },
      ],
    }) as unknown as RestorePlan;
  assert.match(renderPlan(plan('4.2'), true), /device attach persistently pci dom0:00_03\.0 no-strict-reset=True\n?/);
  assert.match(renderPlan(plan('4.3'), true), /device assign pci dom0:00_03\.0 \(\*, required\)/);
});
