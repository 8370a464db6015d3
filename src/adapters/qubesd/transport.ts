// The one transport method every Admin API call goes through (docs/design.md "Architecture"):
//   call(dest, method, arg, payload?) → the success body, or a typed error.
// `SocketTransport` is the dom0 UNIX socket; tests and a future qrexec transport implement
// the same interface, and nothing above it knows which one is in use.
import { createConnection } from 'node:net';
import type { Config } from '../../core/config.ts';
import { QubesTransportError, type CallRef } from '../../core/qubesapi/errors.ts';
import { decodeResponse, encodeRequest } from '../../core/qubesapi/wire.ts';

export interface QubesdTransport {
  /**
   * One Admin API call. Resolves with the body of a `0\0` answer; rejects with QubesApiError
   * (`2\0` exception frame), QubesTransportError (no usable answer) or WqError('input')
   * (an illegal header part — then nothing was sent).
   */
  call(dest: string, method: string, arg: string, payload?: Buffer | string): Promise<Buffer>;
}

export interface SocketTransportOptions {
  socketPath: string;
  /** Bound on one call, connect to EOF (ms); 0 disables the bound. */
  timeoutMs: number;
  /** Answers larger than this are refused (qubesd's biggest realistic answers are ~1 MiB). */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE = 64 * 1024 * 1024;

/**
 * dom0 transport (docs/design.md "Admin API contract"): one connection per call; write the request, half-close
 * (qubesd only answers after EOF), read to EOF (qubesd closes after the answer).
 */
export class SocketTransport implements QubesdTransport {
  readonly socketPath: string;
  readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(opts: SocketTransportOptions) {
    this.socketPath = opts.socketPath;
    this.timeoutMs = opts.timeoutMs;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  }

  async call(dest: string, method: string, arg: string, payload?: Buffer | string): Promise<Buffer> {
    const ref: CallRef = { method, dest, arg };
    const request = encodeRequest({ ...ref, payload }); // validates; throws before connecting
    const response = await this.exchange(ref, request);
    return decodeResponse(ref, response);
  }

  /** Sends raw request bytes and collects the raw answer. */
  exchange(ref: CallRef, request: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let connected = false;
      let settled = false;
      const sock = createConnection({ path: this.socketPath });
      const settle = (err: QubesTransportError | undefined): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        sock.destroy();
        if (err === undefined) resolve(Buffer.concat(chunks, size));
        else reject(err);
      };
      const timer =
        this.timeoutMs > 0
          ? setTimeout(() => {
              settle(
                new QubesTransportError(
                  ref,
                  'timeout',
                  `no complete answer from qubesd within ${this.timeoutMs} ms (socket ${this.socketPath})`,
                ),
              );
            }, this.timeoutMs)
          : undefined;
      sock.on('connect', () => {
        connected = true;
        sock.end(request);
      });
      sock.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxResponseBytes) {
          settle(new QubesTransportError(ref, 'too-large', `answer larger than ${this.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      sock.on('end', () => settle(undefined));
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected) {
          settle(
            new QubesTransportError(
              ref,
              'connect',
              `cannot connect to qubesd at ${this.socketPath}: ${err.code ?? err.message}`,
              err,
            ),
          );
        } else {
          settle(
            new QubesTransportError(
              ref,
              'closed-early',
              `connection to qubesd broke before the answer was complete (${err.code ?? err.message})`,
              err,
            ),
          );
        }
      });
      sock.on('close', () => {
        // 'end' resolves a clean EOF; a close without it means the peer went away mid-answer.
        settle(
          new QubesTransportError(ref, 'closed-early', 'connection to qubesd closed before the answer was complete'),
        );
      });
    });
  }
}

export function socketTransportFromConfig(config: Pick<Config, 'qubesdSocket' | 'qubesdTimeoutMs'>): SocketTransport {
  return new SocketTransport({ socketPath: config.qubesdSocket, timeoutMs: config.qubesdTimeoutMs });
}
