// src/cli/render.ts renderList: `remote list` rebuilds list's text (sizes, dom0 home) from the JSON
// result dom0 sent — hostile input: a size that is no byte count is left out, never printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderList } from '../../src/cli/render.ts';

const archive = { url: null, encrypted: false, authenticated: false, updatedAt: '2025-01-02T03:04:05Z' };

test('named qubes: each session with its size; a bogus size is left out', () => {
  const result = JSON.parse(
    JSON.stringify({
      archive,
      qubes: {
        work: {
          sessions: ['20250101-000000', '20250102-000000', '__proto__'],
          sessionBytes: { '20250101-000000': 1536, '20250102-000000': -1 },
        },
      },
    }).replace('"sessionBytes":{', '"sessionBytes":{"__proto__":2048,'),
  ) as unknown;
  const lines = renderList(result, { qubes: ['work'] });
  assert.deepEqual(lines.slice(lines.indexOf('\nwork:')), [
    '\nwork:',
    '20250101-000000  1.5 KiB',
    '20250102-000000',
    '__proto__  2.0 KiB',
    '',
  ]);
});

test("one session: each qube's size, disposables marked; the dom0 home line", () => {
  const result = {
    archive,
    qubes: {},
    dom0Home: ['20250101-000000'],
    session: {
      id: '20250101-000000',
      tags: {},
      qubes: [
        { name: 'work', class: 'AppVM', disposable: false, bytes: 3 * 1024 * 1024 },
        { name: 'disp1', class: 'DispVM', disposable: true, bytes: 0 },
        { name: 'sys-x', class: 'AppVM', disposable: false, bytes: 'a lot' },
      ],
    },
  };
  const lines = renderList(result, { qubes: [], session: '20250101-000000' });
  assert.deepEqual(lines.slice(lines.indexOf('\nVMs in session 20250101-000000:')), [
    '\nVMs in session 20250101-000000:',
    '  work   3.0 MiB',
    '  disp1 (D)',
    '  sys-x',
    '\ndom0 home: in this session (restore --dom0-home)',
    '',
  ]);
});

test('overview: the sessions holding dom0 home', () => {
  const result = { archive, qubes: { work: { newest: '20250102-000000' } }, dom0Home: ['20250101-000000'] };
  const lines = renderList(result, { qubes: [] });
  assert.deepEqual(lines.slice(-3), [
    '20250102-000000   work',
    '\ndom0 home (restore --dom0-home): 20250101-000000',
    '',
  ]);
});
