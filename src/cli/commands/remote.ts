import { WqError } from '../../core/errors.ts';
import { parseOperation } from '../../core/remote.ts';
import type { UseCase } from '../../app/ports.ts';
import { inferExplicit } from '../../app/profile.ts';
import { callRemote } from '../../rpc/index.ts';
import { renderResult } from '../render.ts';

/** Options `remote` can send; everything else is decided by the profile in dom0. */
const REMOTE_OPTIONS = new Set([
  'profile',
  'session',
  'dryRun',
  'exclude',
  'includeDisposable',
  'expectPlan',
  'as',
  'json',
  'verbose',
  'debug',
  'unattended',
]);

/** `remote OP --profile NAME [QUBE ...] [--session S] [--dry-run] [--exclude Q] [--json]` — from a management qube. */
export const remoteCommand: UseCase = async (ctx) => {
  const [opText, ...qubes] = ctx.args;
  const op = parseOperation(opText);
  const o = ctx.options;
  const refused = [...inferExplicit(o)].filter((k) => !REMOTE_OPTIONS.has(k));
  if (refused.length > 0) {
    const flags = refused.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new WqError('option', `remote cannot send ${flags.join(', ')}: the profile in dom0 decides these.`);
  }
  const envelope = await callRemote(
    op,
    o.profile,
    {
      qubes,
      exclude: o.exclude,
      session: o.session,
      dryRun: o.dryRun,
      includeDisposable: o.includeDisposable,
      expectPlan: o.expectPlan,
      as: o.as,
    },
    ctx.io.env,
  );
  const service = `wyng.${op}+${o.profile ?? ''}`;
  if (envelope.ok) {
    // the text the local command prints, rebuilt from the result (raw JSON only with --json)
    if (envelope.result !== null && envelope.result !== undefined) {
      for (const line of renderResult(op, envelope.result, { qubes, session: o.session, dryRun: o.dryRun })) {
        ctx.say(line);
      }
    }
    ctx.say(`${service}: done.`);
  } else {
    for (const e of envelope.errors) ctx.warn(`${service}: ${e.qube !== undefined ? `${e.qube}: ` : ''}${e.message}`);
  }
  return { exitCode: envelope.exitCode, result: envelope.result, errors: envelope.errors };
};
