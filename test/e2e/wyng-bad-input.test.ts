// Bad input from or about Wyng: each gets a clear one-line error, a documented exit code, no
// crash trace, and changes nothing. Wyng stand-ins are tiny scripts written per test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBundle } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'wq-badwyng-'));

/** A Wyng stand-in that prints `stdout` (after Wyng's banner) and exits `code`, or kills itself. */
function stub(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function listJson(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    wversion: '0.8 rc4',
    fver: 3,
    wdate: '20251028',
    uuid: 'u',
    updated_at: '1795405621.43',
    encrypted: false,
    is_auth: false,
    url: 'file:/x',
    volumes: {},
    ...over,
  });
}

async function list(wyng: string) {
  return runBundle(['list', '--dest', 'file:/x', '-u', '--wyng', wyng, '--json'], {
    env: { WYNG_QUBES_STATE_DIR: join(dir, 'state') },
  });
}

/** The message JSON.parse gives for `text` (it differs between Node releases). */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
}

/** exit code, the exact first error message, a JSON document, no stack trace */
function assertClean(r: { code: number; stdout: string; stderr: string }, code: number, message: string): void {
  assert.equal(r.code, code, r.stderr);
  const doc = JSON.parse(r.stdout) as { ok: boolean; exitCode: number; errors: Array<{ message: string }> };
  assert.equal(doc.ok, false);
  assert.equal(doc.exitCode, code);
  assert.equal(doc.errors[0]!.message, message);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
}

test('Wyng missing → exit 9, names the path', async () => {
  const missing = join(dir, 'no-such-wyng');
  assertClean(await list(missing), 9, `Wyng not found or not executable at '${missing}'.`);
});

test('Wyng too old → refused with the versions', async () => {
  const old = stub(
    'old',
    `printf 'Wyng 0.4 release 20230101\\n\\n'; printf '%s' '${listJson({ wversion: '0.4', wdate: '20230101' })}'`,
  );
  // exit 1 as wyng-util-qubes (its RuntimeError), with our message naming both versions
  assertClean(await list(old), 1, 'Wyng v0.8 release 20250820 or later is required (found 0.4 release 20230101).');
});

test('malformed --json list (truncated, wrong types, extra lines) → input error', async () => {
  const cut = '{"wversion": "0.8 rc4", "vol';
  const truncated = stub('trunc', `printf 'Wyng 0.8 rc4 release 20251028\\n\\n${cut}'`);
  assertClean(await list(truncated), 9, `Wyng list output is not valid JSON (${jsonError(cut)}).`);
  const wrongType = stub(
    'wrongtype',
    `printf 'Wyng 0.8 rc4 release 20251028\\n\\n'; printf '%s' '${listJson({ volumes: [] })}'`,
  );
  assertClean(
    await list(wrongType),
    9,
    "Wyng list output is malformed at 'volumes': Invalid input: expected record, received array.",
  );
  const extra = stub(
    'extra',
    `printf 'Wyng 0.8 rc4 release 20251028\\n\\n'; printf '%s\\ngarbage after\\n' '${listJson()}'`,
  );
  assertClean(
    await list(extra),
    9,
    `Wyng list output is not valid JSON (${jsonError(`${listJson()}\ngarbage after\n`)}).`,
  );
});

test('an archive without Qubes sessions → exit 1 "No Qubes backup sessions."', async () => {
  const empty = stub('empty', `printf 'Wyng 0.8 rc4 release 20251028\\n\\n'; printf '%s' '${listJson()}'`);
  assertClean(await list(empty), 1, 'No Qubes backup sessions.');
});

test('Wyng killed by a signal → a clear error, not a crash', async () => {
  const killed = stub('killed', 'kill -KILL $$');
  assertClean(await list(killed), 1, 'Wyng list was killed by signal SIGKILL.');
});

test("Wyng failing with its own codes maps to ours (3 auth, 6 storage, other → Wyng's code)", async () => {
  assertClean(
    await list(stub('auth', "echo '\nAuthenticationError: Could not decrypt/authenticate archive.' >&2; exit 3")),
    3,
    'Wyng list: AuthenticationError: Could not decrypt/authenticate archive.',
  );
  assertClean(
    await list(stub('storage', "echo '\nStorageError: Destination not found' >&2; exit 6")),
    6,
    'Wyng list: StorageError: Destination not found',
  );
  assertClean(await list(stub('other', "echo 'boom' >&2; exit 4")), 4, 'Wyng list failed (exit 4): boom');
});
