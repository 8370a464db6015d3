// The qubesd wire format (docs/design.md "Admin API contract"), pure: request bytes out, response bytes in.
//
// Request:  `<method>+<arg> <source> name <dest>\0<payload>`; the client then half-closes.
//           The `+` is always sent (as qubesadmin does), also for an empty argument.
// Response: `0\0<body>`          success, body up to EOF (no terminator)
//           `2\0<Type>\0<traceback>\0<message>\0`   exception
//           `1\0…`               events (admin.Events / admin.vm.Stats only) — never expected here
//           nothing at all       framing error or a non-Qubes exception inside qubesd: a failure
import { printable } from '../names.ts';
import { QubesApiError, QubesTransportError, type CallRef } from './errors.ts';
import { MAX_REQUEST_BYTES, checkArg, checkMethod, checkQubeName } from './validate.ts';

/** Local dom0 tools always call as `dom0` (qubesd checks the source qube exists). */
export const SOURCE = 'dom0';

export interface ApiRequest extends CallRef {
  payload?: Buffer | string | undefined;
}

/**
 * Builds the exact request bytes after validating every header part. Throws WqError('input')
 * for an illegal part and QubesTransportError('too-large') over qubesd's 65536-byte limit.
 */
export function encodeRequest(req: ApiRequest): Buffer {
  checkMethod(req.method);
  checkArg(req.arg);
  checkQubeName(req.dest, 'destination qube');
  const header = Buffer.from(`${req.method}+${req.arg} ${SOURCE} name ${req.dest}\0`, 'ascii');
  const payload =
    req.payload === undefined
      ? Buffer.alloc(0)
      : typeof req.payload === 'string'
        ? Buffer.from(req.payload, 'utf8')
        : req.payload;
  if (header.length + payload.length > MAX_REQUEST_BYTES) {
    throw new QubesTransportError(
      req,
      'too-large',
      `request of ${header.length + payload.length} bytes exceeds qubesd's limit of ${MAX_REQUEST_BYTES}`,
    );
  }
  return Buffer.concat([header, payload]);
}

const EXCEPTION_TYPE = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/**
 * Turns response bytes into the success body, or throws: QubesApiError for an exception frame,
 * QubesTransportError for an empty or malformed answer.
 */
export function decodeResponse(call: CallRef, bytes: Buffer): Buffer {
  if (bytes.length === 0) {
    throw new QubesTransportError(
      call,
      'empty-response',
      'qubesd closed the connection without an answer ' +
        '(framing error or an internal qubesd error; see journalctl -u qubesd)',
    );
  }
  if (bytes.length < 2 || bytes[1] !== 0) {
    throw new QubesTransportError(
      call,
      'malformed',
      `answer does not start with a type byte and NUL (${bytes.length} bytes)`,
    );
  }
  const code = bytes[0];
  if (code === 0x30) return bytes.subarray(2);
  if (code === 0x32) {
    const parts = bytes.subarray(2).toString('utf8').split('\0');
    // <Type> <traceback> <message> and the empty string after the final NUL
    if (parts.length !== 4 || parts[3] !== '') {
      throw new QubesTransportError(
        call,
        'malformed',
        `exception frame has ${parts.length - 1} NUL-terminated fields, expected 3`,
      );
    }
    const [type, traceback, message] = parts as [string, string, string];
    if (!EXCEPTION_TYPE.test(type)) {
      throw new QubesTransportError(
        call,
        'malformed',
        `exception frame names no exception class ('${printable(type)}')`,
      );
    }
    throw new QubesApiError(call, type, message, traceback);
  }
  if (code === 0x31) {
    throw new QubesTransportError(call, 'malformed', 'got an event stream where a single answer was expected');
  }
  throw new QubesTransportError(
    call,
    'malformed',
    `unknown answer type byte 0x${(code ?? 0).toString(16).padStart(2, '0')}`,
  );
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The body as text; qubesd answers in UTF-8 (in practice ASCII). */
export function bodyText(call: CallRef, body: Buffer): string {
  try {
    return decoder.decode(body);
  } catch (err) {
    throw new QubesTransportError(call, 'malformed', 'answer is not valid UTF-8', err);
  }
}

/** A failure to parse a successful body: the answer is not what this method returns. */
export function malformedBody(call: CallRef, detail: string): QubesTransportError {
  return new QubesTransportError(call, 'malformed', `unexpected answer: ${detail}`);
}
