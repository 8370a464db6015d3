// Robustness of the fake qubesd: arbitrary calls (known methods, hostile arguments and payloads,
// any destination) are answered with a well-formed reply or none, and never hit an unexpected
// error inside the fake (which it would report as "fake qubesd bug" in the call log).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseQubesXml } from '../../src/core/qubesxml/index.ts';
import { dispatch, methodTable } from '../fakes/qubesd/api.ts';
import type { AppState } from '../fakes/qubesd/model.ts';
import { LAB_PCI_DEVICES } from '../fakes/qubesd/devices.ts';
import { seedState } from '../fakes/qubesd/seed.ts';
import { DEFAULT_HOST } from '../fakes/qubesd/server.ts';
import { readFileSync } from 'node:fs';
import { QUBESD_RECORDING } from '../helpers/test-data.ts';

const SEED = join(QUBESD_RECORDING, 'qubes.xml');

function wellFormed(reply: Buffer | null): boolean {
  if (reply === null) return true;
  if (reply[0] === 0x30 && reply[1] === 0) return true;
  if (reply[0] !== 0x32 || reply[1] !== 0) return false;
  const parts = reply.subarray(2).toString('utf8').split('\0');
  return parts.length === 4 && parts[3] === '' && /^[A-Za-z]+$/.test(parts[0] as string) && parts[1] === '';
}

describe('fake qubesd: arbitrary calls', () => {
  let root: string;
  const states: AppState[] = [];
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'wq-fake-fuzz-'));
    for (const api of ['4.3', '4.2'] as const) {
      states.push(
        seedState(parseQubesXml(readFileSync(SEED)), {
          api,
          root: join(root, api),
          host: DEFAULT_HOST,
          exposed: LAB_PCI_DEVICES,
          deviceClasses: ['pci', 'block'],
          reportSeedPaths: false,
          volumeFileSize: 4096,
        }),
      );
    }
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('answer well-formed or not at all, and never fail inside the fake', () => {
    const qubes = [
      'dom0',
      'work',
      'personal',
      'sys-net',
      'fedora-41',
      'fedora-41-dvm',
      'disp-test',
      'untrusted-standalone',
      'vault',
      'nope',
      'uuid:00000000-0000-0000-0000-000000000000',
    ];
    const text = fc.oneof(
      fc.constantFrom(
        '',
        'True',
        'False',
        '0',
        '-1',
        '800',
        'fedora-41',
        'sys-net',
        'red',
        'label-3',
        'a b',
        "x='y'",
        'dom0+00_05.0',
        "mode='required'",
      ),
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
    );
    for (const app of states) {
      const table = methodTable(app);
      const methods = [...table.keys()];
      fc.assert(
        fc.property(
          fc.constantFrom(...methods),
          text,
          fc.constantFrom(...qubes),
          text,
          fc.constantFrom('dom0', 'personal'),
          (method, argIn, dest, payloadIn, src) => {
            // mostly calls that pass the argument/payload checks, so the handlers themselves run;
            // an argument cannot contain a space or NUL on the wire
            const def = table.get(method);
            const a = def?.wantsArg === false ? '' : argIn.replace(/[ \0]/g, '_');
            const payload = def?.wantsPayload === false ? '' : payloadIn;
            const d = dispatch(app, {
              method: Buffer.from(method),
              arg: Buffer.from(a, 'utf8'),
              src: Buffer.from(src),
              dest: Buffer.from(dest),
              payload: Buffer.from(payload, 'utf8'),
            });
            assert.ok(wellFormed(d.reply), `${method}+${a} → ${JSON.stringify(d.reply?.toString())}`);
            assert.ok(
              !(d.why ?? '').startsWith('fake qubesd bug'),
              `${method}+${a} ${dest} ${JSON.stringify(payload)}: ${d.why}`,
            );
          },
        ),
        { numRuns: 3000, seed: 4242 },
      );
    }
  });
});
