/**
 * TEST-ONLY crash hook — never set its variable on a real system.
 *
 * `WYNG_QUBES_TEST_CRASH_AT=<step>[:<n>]` makes the process kill itself with SIGKILL (what
 * `kill -9` or a power loss does: no cleanup, no finally blocks) the n-th time (default 1) it
 * reaches the named step boundary. The reliability suite (test/reliability/crash.test.ts) uses
 * it to prove that a run killed anywhere leaves a state the next run repairs. Without the
 * variable this is a no-op. Steps: restore:stopped, restore:removed, restore:created,
 * restore:received, restore:settings, restore:verified, backup:before-send, backup:after-send,
 * backup:stamped.
 *
 * Compiled out of everything the project ships: scripts/build.mjs defines
 * `__WYNG_QUBES_TEST_HOOKS__` as false for the CLI bundle and the library (the body below is
 * then dead code and esbuild drops it, variable name included); only the reliability suite's
 * own bundle (dist/test-hooks/) and runs from source keep it.
 */
declare const __WYNG_QUBES_TEST_HOOKS__: boolean | undefined;

const reached = new Map<string, number>();

export function crashPoint(step: string): void {
  if (typeof __WYNG_QUBES_TEST_HOOKS__ === 'boolean' && !__WYNG_QUBES_TEST_HOOKS__) return;
  const spec = process.env.WYNG_QUBES_TEST_CRASH_AT;
  if (spec === undefined || spec === '') return;
  const colon = spec.lastIndexOf(':');
  const hasCount = colon > 0 && /^\d+$/.test(spec.slice(colon + 1));
  const name = hasCount ? spec.slice(0, colon) : spec;
  if (name !== step) return;
  const n = (reached.get(step) ?? 0) + 1;
  reached.set(step, n);
  if (n === (hasCount ? Number(spec.slice(colon + 1)) : 1)) process.kill(process.pid, 'SIGKILL');
}
