import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeForTerminal, hasUnsafeText } from '../../src/core/terminal.ts';
import { emptyDiff } from '../../src/core/restore/diff.ts';
import { renderPlan } from '../../src/core/restore/render.ts';
import type { RestorePlan } from '../../src/core/restore/plan.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from '../helpers/cli.ts';
import { WYNG_STUB } from '../helpers/rpc.ts';

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
  // the URL Wyng's listing reports back is printed by `list` (the stub echoes --dest)
  const dir = mkdtempSync(join(tmpdir(), 'wq-esc-'));
  const r = await runInProcess(['list', '--dest', 'file:/x\x1b[2J\x9b2J'], {
    env: {
      PATH: process.env.PATH,
      WYNG_QUBES_WYNG: WYNG_STUB,
      WYNG_TEST_NODE: process.execPath,
      WYNG_QUBES_STATE_DIR: join(dir, 'state'),
      WYNG_QUBES_LOCK_DIR: dir,
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /URL file:\/x\\x1b\[2J\\x9b2J\n/);
  assert.ok(!RAW_CONTROL.test(r.stdout + r.stderr), JSON.stringify(r.stdout));
  rmSync(dir, { recursive: true, force: true });
});
