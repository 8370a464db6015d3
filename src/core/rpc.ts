/**
 * The qrexec call as the service receives it (docs/design.md "qrexec services"), validated without any I/O:
 * service name, argument (= profile name), calling qube, and the JSON request on stdin.
 * Everything here is hostile input (docs/design.md "qrexec services"): validate, never fix up.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { WqError } from './errors.ts';
import { describeZodError } from './options.ts';
import { isValidQubeName, printable } from './names.ts';
import { PROFILE_NAME, RPC_OPERATIONS, RpcRequestSchema, type RpcOperation, type RpcRequest } from './profiles.ts';

/** Largest request accepted on stdin. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export const SERVICE_PREFIX = 'wyng.';

export interface RawCall {
  /** The service the installed script names (`wyng-qubes rpc wyng.Backup`), if any. */
  scriptService: string | undefined;
  /** QREXEC_SERVICE_FULL_NAME, QREXEC_SERVICE_ARGUMENT, QREXEC_REMOTE_DOMAIN. */
  fullName: string | undefined;
  argument: string | undefined;
  remoteDomain: string | undefined;
  /** Standard input, already bounded by the reader. */
  stdin: Uint8Array;
}

export interface ValidCall {
  operation: RpcOperation;
  profile: string;
  caller: string;
  request: RpcRequest;
  /** sha256 of the request bytes, hex (for the audit log). */
  digest: string;
}

/** What the audit log and error replies can say about a call, even an invalid one. */
export interface CallFacts {
  service: string;
  profile: string;
  caller: string;
  digest: string;
}

export function requestDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function operationOf(service: string): RpcOperation | undefined {
  if (!service.startsWith(SERVICE_PREFIX)) return undefined;
  const op = service.slice(SERVICE_PREFIX.length);
  return (RPC_OPERATIONS as readonly string[]).includes(op) ? (op as RpcOperation) : undefined;
}

/** Printable facts for logging, whatever the input (truncated, non-printables replaced). */
export function callFacts(raw: RawCall): CallFacts {
  const full = raw.fullName ?? '';
  const service = full !== '' ? (full.split('+')[0] ?? '') : (raw.scriptService ?? '');
  return {
    service: printable(service, 64),
    profile: printable(raw.argument ?? (full.includes('+') ? full.slice(full.indexOf('+') + 1) : ''), 80),
    caller: printable(raw.remoteDomain ?? '', 40),
    digest: requestDigest(raw.stdin),
  };
}

/** Service, profile argument and caller from the qrexec environment. */
export function parseServiceCall(raw: Omit<RawCall, 'stdin'>): {
  operation: RpcOperation;
  profile: string;
  caller: string;
} {
  const { scriptService, fullName, argument, remoteDomain } = raw;
  if (remoteDomain === undefined || remoteDomain === '') {
    throw new WqError('input', 'QREXEC_REMOTE_DOMAIN is not set: not called through qrexec.');
  }
  if (remoteDomain !== 'dom0' && !isValidQubeName(remoteDomain)) {
    throw new WqError('input', `Invalid calling qube name '${printable(remoteDomain)}'.`);
  }
  let service: string;
  let arg: string;
  if (fullName !== undefined && fullName !== '') {
    const plus = fullName.indexOf('+');
    service = plus < 0 ? fullName : fullName.slice(0, plus);
    arg = plus < 0 ? '' : fullName.slice(plus + 1);
    if (argument !== undefined && argument !== arg) {
      throw new WqError('input', 'QREXEC_SERVICE_ARGUMENT does not match QREXEC_SERVICE_FULL_NAME.');
    }
    if (scriptService !== undefined && scriptService !== service) {
      throw new WqError(
        'input',
        `Service '${printable(service)}' reached the entry point of ${printable(scriptService)}.`,
      );
    }
  } else {
    // Run directly in dom0 (docs/design.md "qrexec services"): the script names the service.
    if (scriptService === undefined)
      throw new WqError('input', 'No service: QREXEC_SERVICE_FULL_NAME is not set and none was named.');
    service = scriptService;
    arg = argument ?? '';
  }
  const operation = operationOf(service);
  if (operation === undefined) throw new WqError('input', `Unknown service '${printable(service)}'.`);
  if (arg === '')
    throw new WqError('input', `wyng.${operation} needs a profile name as argument (wyng.${operation}+PROFILE).`);
  if (!PROFILE_NAME.test(arg)) {
    throw new WqError(
      'input',
      `Invalid profile name '${printable(arg)}': use 1-64 of a-z, 0-9, "_", "-", starting with a letter or digit.`,
    );
  }
  return { operation, profile: arg, caller: remoteDomain };
}

/** The JSON request: UTF-8, one JSON object (empty input = `{}`), strict schema. */
export function parseRequest(bytes: Uint8Array): RpcRequest {
  if (bytes.length > MAX_REQUEST_BYTES) throw new WqError('input', `Request larger than ${MAX_REQUEST_BYTES} bytes.`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WqError('input', 'Request is not valid UTF-8.');
  }
  if (text.trim() === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new WqError('input', `Request is not valid JSON: ${printable((err as Error).message)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new WqError('input', 'Request must be a JSON object.');
  const parsed = RpcRequestSchema.safeParse(doc);
  if (!parsed.success)
    throw new WqError('input', `Invalid request: ${printable(describeZodError(parsed.error, 'request'), 200)}`);
  return parsed.data;
}

/** The whole call, validated. Throws WqError (kind `input`) for anything invalid. */
export function validateCall(raw: RawCall): ValidCall {
  const svc = parseServiceCall(raw);
  const request = parseRequest(raw.stdin);
  return { ...svc, request, digest: requestDigest(raw.stdin) };
}

/**
 * What the unprivileged entry point hands to its privileged part on stdin (one JSON document):
 * the facts it validated, and the request bytes as received (base64), validated again there.
 */
export const PrivilegedCallSchema = z.strictObject({
  v: z.literal(1),
  service: z.string().max(300),
  argument: z.string().max(300),
  remoteDomain: z.string().max(64),
  request: z.base64().max(Math.ceil(MAX_REQUEST_BYTES / 3) * 4),
});
export type PrivilegedCall = z.output<typeof PrivilegedCallSchema>;

export function privilegedCallFrom(call: ValidCall, stdin: Uint8Array): PrivilegedCall {
  return {
    v: 1,
    service: `${SERVICE_PREFIX}${call.operation}`,
    argument: call.profile,
    remoteDomain: call.caller,
    request: Buffer.from(stdin).toString('base64'),
  };
}

/** The privileged part's input back into a RawCall (which is then validated again). */
export function rawCallFromPrivileged(bytes: Uint8Array): RawCall {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new WqError('input', 'Privileged call: input is not JSON.');
  }
  const parsed = PrivilegedCallSchema.safeParse(doc);
  if (!parsed.success) throw new WqError('input', `Privileged call: ${describeZodError(parsed.error, 'input')}`);
  const c = parsed.data;
  return {
    scriptService: c.service,
    fullName: `${c.service}+${c.argument}`,
    argument: c.argument,
    remoteDomain: c.remoteDomain,
    stdin: Buffer.from(c.request, 'base64'),
  };
}
