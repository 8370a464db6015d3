import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeForTerminal, hasUnsafeText } from '../../src/core/terminal.ts';
import { emptyDiff } from '../../src/core/restore/diff.ts';
import { renderPlan } from '../../src/core/restore/render.ts';
import type { RestorePlan } from '../../src/core/restore/plan.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RPC_SEED } from '../helpers/rpc.ts';
import { buildSandbox } from '../helpers/sim.ts';

/** The fake Wyng's archive state file (test/fakes/wyng-impl/archive.mjs). */
const STATE_FILE = 'wyng-fake.json';

/** Any character a terminal would act on (C0 but \n, DEL, C1, bidi/zero-width controls). */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

test('escapeForTerminal makes every control character visible', () => {
  assert.equal(escapeForTerminal('nopat\x1b[8m'), 'nopat\\x1b[8m');
  assert.equal(escapeForTerminal('a\nb\tc\r'), 'a\\x0ab\\x09c\\x0d');
  assert.equal(escapeForTerminal('a\nb\tc\r', { keepLines: true }), 'a\nb\tc\\x0d');
  assert.equal(escapeForTerminal('\x9b8m \u202eevil \u200b'), '\\x9b8m \\u202eevil \\u200b');
  assert.equal(escapeForTerminal('café ok – “quoted”'), 'café ok – “quoted”');
  assert.equal(hasUnsafeText('line\n\tindented'), false);
  assert.equal(hasUnsafeText('bell\x07'), true);
  assert.equal(hasUnsafeText('bell\x07'), true, 'no regex state between calls');
});

test('renderPlan escapes every archive-derived value', () => {
  const changes = emptyDiff();
  changes.properties.push({ name: 'kernelopts', from: 'quiet', to: 'nopat\x1b[8m' });
  changes.features.push({ name: 'x\x1b]0;t\x07', from: null, to: '\x9b2J' });
  changes.tags.push({ tag: 'a\u202eb', op: 'add' });
  changes.devices.push({
    op: 'assign',
    assignment: { devclass: 'pci', backend: 'dom0', port: '00\x1b', deviceId: '*\r', mode: 'required', options: {} },
  });
  const plan: RestorePlan = {
    session: '2026\x1b[2J',
    deviceApi: '4.3',
    order: ['per\x1bsonal'],
    notMatched: ['x\ny'],
    qubes: [
      {
        name: 'per\x1bsonal',
        klass: 'AppVM',
        action: 'overwrite',
        liveClass: 'AppVM',
        running: false,
        stopDisposables: [],
        create: null,
        volumes: [{ kind: 'private', archiveName: 'appvms/p\x1b/private.img' }],
        changes,
        changeCount: 4,
        deferred: ['net\x1bvm'],
        overrides: {},
        problems: [{ severity: 'warning', message: "its netvm 'a\x1b[8m' is missing" }],
        staleTag: false,
        fails: false,
      },
    ],
  };
  const text = renderPlan(plan, true);
  assert.ok(!RAW_CONTROL.test(text), JSON.stringify(text));
  assert.match(text, /kernelopts: quiet → nopat\\x1b\[8m/);
  assert.match(text, /Not matched:\n x\\x0ay/);
});

test('human CLI output never carries a raw control character (the say/warn sink escapes)', async () => {
  // a hostile archive: a volume name with terminal controls in Wyng's listing, printed by `list`
  const sb = await buildSandbox({ qubesd: false, archive: { seed: RPC_SEED } });
  const stateFile = join(sb.archiveDir, STATE_FILE);
  const state = readFileSync(stateFile, 'utf8');
  const hostile = state.replaceAll('appvms/work/', 'appvms/wo\\u001b[2J\\u009b2Jrk/');
  assert.notEqual(hostile, state);
  writeFileSync(stateFile, hostile);
  const r = await sb.cli(['list', '--dest', sb.archiveUrl]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^20261123-034732 {3}personal$/m, 'the listing itself is printed');
  assert.ok(!RAW_CONTROL.test(r.stdout + r.stderr), JSON.stringify(r.stdout + r.stderr));
  // (Wyng refuses a --dest with controls, so the URL it reports back cannot carry any.)
  // A name typed with controls comes back escaped in the error text.
  const typed = await sb.cli(['list', '--dest', sb.archiveUrl, 'a\x1b[2J\x9b2J']);
  assert.equal(typed.code, 9);
  assert.ok(typed.stderr.includes("'a\\u001b[2J\\u009b2J'"), JSON.stringify(typed.stderr));
  assert.ok(!RAW_CONTROL.test(typed.stdout + typed.stderr), JSON.stringify(typed.stdout + typed.stderr));
  await sb.stop();
});
