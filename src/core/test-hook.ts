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
 */
const reached = new Map<string, number>();

export function crashPoint(step: string): void {
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
