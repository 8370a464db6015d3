import { WqError } from '../../core/errors.ts';
import type { UseCase } from '../../app/ports.ts';
import { serveEntry, servePrivileged } from '../../rpc/index.ts';

let processGuarded = false;

/**
 * A job must outlive its caller (docs/design.md "qrexec services"): when the calling qube goes away, writing the
 * reply fails with EPIPE — that must not end the process before the job and its report are
 * done (the same for a closed log on stderr). Hang-ups are ignored for the same reason.
 */
function guardProcess(): void {
  if (processGuarded) return;
  processGuarded = true;
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  process.on('SIGHUP', () => undefined);
}

/**
 * `wyng-qubes rpc [wyng.OP]` — the qrexec service entry point (rpc/README.md);
 * `wyng-qubes rpc privileged` — its privileged part, started through sudo.
 * Prints exactly one JSON document on stdout; the exit status is its `exitCode`.
 */
export const rpcCommand: UseCase = async (ctx) => {
  if (ctx.options.json) throw new WqError('option', 'rpc always prints one JSON document; do not pass --json.');
  if (ctx.args.length > 1) throw new WqError('option', 'usage: wyng-qubes rpc [wyng.SERVICE | privileged]');
  guardProcess();
  const [first] = ctx.args;
  const envelope =
    first === 'privileged' ? await servePrivileged(ctx.io, ctx.config) : await serveEntry(ctx.io, ctx.config, first);
  ctx.io.stdout(`${JSON.stringify(envelope)}\n`);
  return { exitCode: envelope.exitCode, result: envelope.result, errors: envelope.errors };
};
