/**
 * The management-qube side of the RPC services: which service to call, the request to send,
 * and what qrexec-client-vm's exit status means (docs/design.md "qrexec services"). Pure.
 */
import { z } from 'zod';
import { ERROR_KINDS, WqError } from './errors.ts';
import { describeZodError } from './options.ts';
import { printable } from './names.ts';
import { PROFILE_NAME, RPC_OPERATIONS, RpcRequestSchema, type RpcOperation, type RpcRequest } from './profiles.ts';

export function parseOperation(text: string | undefined): RpcOperation {
  const op = RPC_OPERATIONS.find((o) => o.toLowerCase() === (text ?? '').toLowerCase());
  if (op === undefined) throw new WqError('option', `remote needs an operation: one of ${RPC_OPERATIONS.join(', ')}.`);
  return op;
}

export function serviceCall(op: RpcOperation, profile: string | undefined): string {
  if (profile === undefined) throw new WqError('option', 'remote needs --profile NAME (a profile defined in dom0).');
  if (!PROFILE_NAME.test(profile)) {
    throw new WqError(
      'option',
      `Invalid profile name '${printable(profile)}': use 1-64 of a-z, 0-9, "_", "-", starting with a letter or digit.`,
    );
  }
  return `wyng.${op}+${profile}`;
}

export interface RemoteRequestInput {
  qubes?: string[] | undefined;
  exclude?: string[] | undefined;
  session?: string | undefined;
  dryRun?: boolean | undefined;
  includeDisposable?: boolean | undefined;
  /** Restore: the plan digest of an earlier dry run (issue 14). */
  expectPlan?: string | undefined;
  as?: string | undefined;
}

/** The request document; only the fields that say something are sent. */
export function buildRequest(input: RemoteRequestInput): RpcRequest {
  const doc: Record<string, unknown> = {};
  if (input.qubes !== undefined && input.qubes.length > 0) doc.qubes = input.qubes;
  if (input.exclude !== undefined && input.exclude.length > 0) doc.exclude = input.exclude;
  if (input.session !== undefined) doc.session = input.session;
  if (input.dryRun === true) doc.dryRun = true;
  if (input.includeDisposable === true) doc.includeDisposable = true;
  if (input.expectPlan !== undefined) doc.expectPlan = input.expectPlan;
  if (input.as !== undefined) doc.as = input.as;
  const parsed = RpcRequestSchema.safeParse(doc);
  if (!parsed.success) throw new WqError('option', describeZodError(parsed.error, 'request'));
  return parsed.data;
}

export const ReplySchema = z.object({
  ok: z.boolean(),
  exitCode: z.number().int().min(0).max(255),
  command: z.string(),
  result: z.unknown(),
  errors: z.array(
    z.object({ kind: z.enum(ERROR_KINDS).catch('internal'), message: z.string(), qube: z.string().optional() }),
  ),
});
export type Reply = z.output<typeof ReplySchema>;

/** The service's one JSON document, if stdout holds exactly that. */
export function parseReply(stdout: string): Reply | undefined {
  const text = stdout.trim();
  if (text === '' || text.includes('\n')) return undefined;
  try {
    const parsed = ReplySchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** qrexec-client-vm's own failures (docs/design.md "qrexec services") as our errors. */
export function qrexecFailure(service: string, exitCode: number | undefined, signal: string | undefined): WqError {
  switch (exitCode) {
    case 126:
      return new WqError(
        'policy-refused',
        `dom0 refused ${service}: denied by the qrexec policy (or the confirmation prompt was declined). ` +
          'Ask the dom0 administrator to allow it in /etc/qubes/policy.d/30-user.policy.',
      );
    case 127:
      return new WqError(
        'no-service',
        `${service.split('+')[0]} is not installed in dom0 (no /etc/qubes-rpc/${service.split('+')[0]}).`,
      );
    case 125:
      return new WqError(
        'qrexec',
        `qrexec could not start ${service} in dom0 (bad service file or rpc-config, or out of resources).`,
      );
    default: {
      const ended = signal !== undefined ? `signal ${signal}` : `exit ${exitCode ?? 'unknown'}`;
      return new WqError('internal', `${service} gave no valid reply (${ended}).`);
    }
  }
}
