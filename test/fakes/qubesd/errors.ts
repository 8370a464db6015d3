// The two ways a qubesd call can fail (design.md "Admin API contract"):
// - a Qubes exception: the reply is `2\0<Type>\0<traceback>\0<message>\0`;
// - anything else raised inside qubesd (AttributeError, KeyError, ValueError, …) or a framing
//   error: qubesd aborts the connection and the client reads zero bytes.

/** A Qubes exception, sent as `2\0Type\0\0message\0`. */
export class QubesdError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

/**
 * What qubesd does on a non-Qubes exception: no reply, the connection is aborted.
 * `why` names the Python exception qubesd would log (for the fake's call log only).
 */
export class DropConnection extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'DropConnection';
  }
}

export const qerr = (type: string, message: string): QubesdError => new QubesdError(type, message);

export const protocolError = (message: string): QubesdError => qerr('ProtocolError', message);

export const drop = (why: string): DropConnection => new DropConnection(why);
