// The qubesd wire format (design.md "Admin API contract"): one call per connection,
//   request  = `<method>+<arg> <source> <dest-type> <dest>\0<payload>` then half-close,
//   response = `0\0<body>` | `2\0<Type>\0<traceback>\0<message>\0` | nothing (framing error).

/** Requests longer than this are dropped (qubesd's QubesDaemonProtocol.buffer_size). */
export const MAX_REQUEST_BYTES = 65536;

export interface WireRequest {
  /** raw bytes of each header field, decoded later (non-ASCII there is an unhandled error) */
  readonly method: Buffer;
  readonly arg: Buffer;
  readonly src: Buffer;
  readonly dest: Buffer;
  readonly payload: Buffer;
}

export type ParsedRequest = { ok: true; request: WireRequest } | { ok: false; why: string };

/** Splits a request like qubesd's eof_received(); `ok: false` = framing error (no reply). */
export function parseRequest(data: Buffer): ParsedRequest {
  if (data.length > MAX_REQUEST_BYTES) return { ok: false, why: 'request too long' };
  const nul = data.indexOf(0);
  if (nul < 0) return { ok: false, why: 'framing error: no NUL after the header' };
  const header = data.subarray(0, nul);
  const payload = data.subarray(nul + 1);
  // bytes.split(b" ", 3): at most 4 fields, the last keeps any further spaces
  const fields: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < 3; i++) {
    const sp = header.indexOf(0x20, start);
    if (sp < 0) break;
    fields.push(header.subarray(start, sp));
    start = sp + 1;
  }
  fields.push(header.subarray(start));
  if (fields.length !== 4) return { ok: false, why: 'framing error: header needs 4 fields' };
  const [methArg, src, destTypeRaw, destRaw] = fields as [Buffer, Buffer, Buffer, Buffer];
  let destType = destTypeRaw.toString('latin1');
  let dest = destRaw;
  if (destType === 'keyword' && dest.toString('latin1') === 'adminvm') {
    destType = 'name';
    dest = Buffer.from('dom0');
  }
  if (destType !== 'name') return { ok: false, why: `framing error: destination type ${destType}` };
  const plus = methArg.indexOf(0x2b);
  const method = plus < 0 ? methArg : methArg.subarray(0, plus);
  const arg = plus < 0 ? Buffer.alloc(0) : methArg.subarray(plus + 1);
  return { ok: true, request: { method, arg, src, dest, payload } };
}

export function encodeOk(body: string | null): Buffer {
  return Buffer.concat([Buffer.from([0x30, 0]), Buffer.from(body ?? '', 'utf8')]);
}

export function encodeException(type: string, message: string, traceback = ''): Buffer {
  return Buffer.concat([
    Buffer.from([0x32, 0]),
    Buffer.from(type, 'utf8'),
    Buffer.from([0]),
    Buffer.from(traceback, 'utf8'),
    Buffer.from([0]),
    Buffer.from(message, 'utf8'),
    Buffer.from([0]),
  ]);
}

/** Builds a request the way qubesadmin does (for tests and tools). */
export function encodeRequest(
  method: string,
  arg: string,
  dest: string,
  payload: Buffer | string = '',
  src = 'dom0',
): Buffer {
  return Buffer.concat([Buffer.from(`${method}+${arg} ${src} name ${dest}\0`, 'utf8'), Buffer.from(payload)]);
}
