// Errors of the Admin API client. Both are WqErrors of kind `admin-api` (exit code 1), so
// every layer above can treat them like any other failure; they keep the details a caller
// may need to branch on (qubesd's exception class name, or why the transport failed).
import { WqError } from '../errors.ts';
import { printable } from '../names.ts';

/** Which call failed: enough to name it in a message and in the call log. */
export interface CallRef {
  method: string;
  dest: string;
  arg: string;
}

export function describeCall(call: CallRef): string {
  return `${call.method}+${call.arg} on ${call.dest}`;
}

/**
 * qubesd answered `2\0<Type>\0<traceback>\0<message>\0` (docs/design.md "Admin API contract"). `type` is
 * qubesd's exception class name (QubesVMNotFoundError, QubesValueError, ProtocolError,
 * PermissionDenied, …): key on it, never on the message. The message is already formatted by
 * qubesd and reaches the user unchanged (only made printable).
 */
export class QubesApiError extends WqError {
  readonly type: string;
  readonly remoteMessage: string;
  readonly traceback: string;
  readonly call: CallRef;

  constructor(call: CallRef, type: string, remoteMessage: string, traceback = '') {
    super('admin-api', `${printable(remoteMessage, 400)} (${type}, ${describeCall(call)})`, {
      qube: call.dest === 'dom0' ? undefined : call.dest,
      remoteType: type,
    });
    this.name = 'QubesApiError';
    this.type = type;
    this.remoteMessage = remoteMessage;
    this.traceback = traceback;
    this.call = call;
  }

  /** qubesd's answer to an unknown method name (also: a device class that does not exist). */
  isNoSuchMethod(): boolean {
    return this.type === 'ProtocolError' && this.remoteMessage.startsWith('no such method');
  }
}

export const TRANSPORT_FAILURES = [
  'connect', // the socket could not be opened (missing, permission, refused)
  'timeout', // no complete answer within the bound
  'empty-response', // qubesd closed without a byte: framing error or non-Qubes exception
  'closed-early', // the connection broke before the answer was complete
  'malformed', // the answer is not a valid frame (or its body is not what the method returns)
  'too-large', // request over qubesd's 65536-byte limit, or an absurdly large answer
] as const;
export type TransportFailure = (typeof TRANSPORT_FAILURES)[number];

/** The call did not produce a qubesd answer we can use (no `2\0` exception frame). */
export class QubesTransportError extends WqError {
  readonly reason: TransportFailure;
  readonly call: CallRef;

  constructor(call: CallRef, reason: TransportFailure, detail: string, cause?: unknown) {
    super('admin-api', `Admin API call ${describeCall(call)} failed: ${detail}`, {
      qube: call.dest === 'dom0' ? undefined : call.dest,
      cause,
    });
    this.name = 'QubesTransportError';
    this.reason = reason;
    this.call = call;
  }
}
