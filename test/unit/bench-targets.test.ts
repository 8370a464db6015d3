// bench/targets.ts: how `npm run bench` judges figures (met, MISSED, no figure, not measurable)
// and that wyng-util-qubes' recorded call counts come from the recording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judge, readWuqCalls, RECORDING } from '../../bench/targets.ts';

const WUQ = { min: 68, max: 73, runs: 4 };

function verdictOf(rows: ReturnType<typeof judge>, start: string): string {
  const row = rows.find((r) => r.figure.startsWith(start));
  assert.ok(row, `no row ${start}`);
  return row.verdict;
}

test('the recorded wyng-util-qubes restores give the 68–73 range, read from the file', () => {
  const rec = JSON.parse(readFileSync(RECORDING, 'utf8')) as { runs: Array<{ calls: unknown[] }> };
  const counts = rec.runs.map((r) => r.calls.length);
  assert.deepEqual(readWuqCalls(), { min: Math.min(...counts), max: Math.max(...counts), runs: rec.runs.length });
  assert.deepEqual(readWuqCalls(), WUQ);

  const dir = mkdtempSync(join(tmpdir(), 'wq-targets-'));
  try {
    const path = join(dir, 'rec.json');
    writeFileSync(path, JSON.stringify({ runs: [{ run: 'x', total_calls: 3, calls: [1, 2] }] }));
    assert.throws(() => readWuqCalls(path), /total_calls/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('figures are judged against their targets; null figures and simulator-only limits are labelled', () => {
  const rows = judge(
    {
      coldStartMs: 120,
      coldStartRatioVsWuq: null,
      coldStartHelpRatioVsWuq: 0.9,
      coldStartHelpRssMb: 44,
      xmlParse1000Ms: 140,
      xmlParse1000RssMb: 90,
      restore1: { calls: 20, writes: 3 },
      restoreCheck200: { oursMs: null, calls: 1902 },
      saltNoop9: { ms: 1500, dryRunMs: 1400, wyngProcesses: 2 },
      rerunWrites: 1,
    },
    WUQ,
  );
  assert.equal(verdictOf(rows, 'cold start of the bundle'), 'met');
  assert.equal(verdictOf(rows, 'cold start vs wyng-util-qubes (`version`'), 'no figure');
  assert.equal(verdictOf(rows, 'cold start vs wyng-util-qubes (`--help`'), 'MISSED');
  assert.equal(verdictOf(rows, 'cold start `--help`, peak RSS'), 'met');
  assert.equal(verdictOf(rows, 'parse a 1,000-domain qubes.xml (median)'), 'MISSED');
  assert.equal(verdictOf(rows, 'parse a 1,000-domain qubes.xml, peak RSS'), 'met');
  assert.equal(verdictOf(rows, 'restore of one qube'), 'met');
  assert.equal(verdictOf(rows, 'unchanged restore check'), 'no figure');
  assert.equal(verdictOf(rows, 'Salt: no-op apply'), 'met');
  assert.equal(verdictOf(rows, 'unchanged rerun'), 'MISSED');
  assert.equal(verdictOf(rows, 'backup of 50 qubes: ours vs Wyng'), 'not measurable by the simulator');
  assert.equal(verdictOf(rows, 'real lab'), 'not measurable by the simulator');
  assert.match(rows.find((r) => r.figure.startsWith('restore of one qube'))?.target ?? '', /68–73/);

  const slow = judge({ saltNoop9: { ms: 3000, dryRunMs: 1400, wyngProcesses: 2 }, restore1: { calls: 68 } }, WUQ);
  assert.equal(verdictOf(slow, 'Salt: no-op apply'), 'MISSED');
  assert.equal(verdictOf(slow, 'restore of one qube'), 'MISSED');
});

test('the one-change restore of 200 qubes: ours without the fake qubesd, reads per changed qube', () => {
  const fig = (oursMs: number, qubesdMs: number, readsPerChanged: number): ReturnType<typeof judge> =>
    judge(
      { restore200: { oursMs, wyngMs: 500, qubesdMs, calls: 824, writes: 489, changed: 163, readsPerChanged } },
      WUQ,
    );
  const row = 'restore of 200 qubes (one change each): ours';
  assert.equal(verdictOf(fig(9000, 8200, 2), row), 'met');
  assert.equal(verdictOf(fig(9000, 7900, 2), row), 'MISSED');
  assert.equal(verdictOf(fig(900, 100, 2.5), row), 'MISSED');
  assert.equal(verdictOf(judge({ restore200: { oursMs: 900, calls: 824 } }, WUQ), row), 'no figure');
});
