import { callQrexec } from '../adapters/qrexec-client.ts';
import { resolveConfig, type Env } from '../core/config.ts';
import { makeEnvelope, type Envelope } from '../core/envelope.ts';
import { WqError } from '../core/errors.ts';
import type { RpcOperation } from '../core/profiles.ts';
import { buildRequest, parseReply, qrexecFailure, serviceCall, type RemoteRequestInput } from '../core/remote.ts';

/** The qrexec target of every wyng.* call. */
export const REMOTE_TARGET = 'dom0';

/**
 * Calls `wyng.OP+PROFILE` in dom0 from a management qube through qrexec-client-vm (config
 * `qrexecClient`, env WYNG_QUBES_QREXEC_CLIENT) and returns the service's JSON document, or
 * an error document for qrexec's own failures (126 refused, 127 not installed, 125 qrexec).
 * Throws WqError (`option`) only for an invalid operation, profile name or request.
 */
export async function callRemote(
  op: RpcOperation,
  profile: string | undefined,
  input: RemoteRequestInput,
  env: Env,
): Promise<Envelope> {
  const service = serviceCall(op, profile);
  const request = buildRequest(input);
  const config = resolveConfig(env);
  const command = op === 'Status' ? 'status' : op.toLowerCase();
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const r = await callQrexec(config.qrexecClient, REMOTE_TARGET, service, JSON.stringify(request), childEnv);
  if (r.spawnError !== undefined) {
    const e =
      r.spawnError.code === 'ENOENT'
        ? new WqError(
            'config',
            `${config.qrexecClient} not found: run 'remote' in a qube (or set WYNG_QUBES_QREXEC_CLIENT).`,
          )
        : new WqError('config', `Cannot run ${config.qrexecClient}: ${r.spawnError.message}`);
    return makeEnvelope(command, e.exitCode, null, [e.toRecord()]);
  }
  const reply = parseReply(r.stdout);
  if (reply !== undefined) return reply;
  const e = qrexecFailure(service, r.exitCode, r.signal);
  return makeEnvelope(command, e.exitCode, null, [e.toRecord()]);
}
