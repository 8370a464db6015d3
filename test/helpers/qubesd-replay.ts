// A tiny qubesd stand-in on a temp UNIX socket that replays RECORDED bytes: every request must
// equal, byte for byte, the request of one of the exchanges it was given; the answer is that
// exchange's recorded response. Exchanges with identical requests are served in the order
// given (e.g. Remove ok, then Remove of the same qube → QubesVMNotFoundError).
// An unexpected request is recorded in `unmatched` and answered with nothing (as qubesd does
// for framing errors), so the client sees a failure and the test can show what was sent.
// Special behaviours for transport tests: close at once, never answer, or send raw bytes.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exchange } from './qubesd-transcripts.ts';

export type ReplayBehaviour =
  | { kind: 'replay' }
  /** close the connection as soon as it is accepted, reading nothing */
  | { kind: 'close-at-once' }
  /** read the request, then keep the connection open without answering */
  | { kind: 'never-answer' }
  /** read the request (to EOF), then send these bytes and close */
  | { kind: 'raw'; bytes: Buffer }
  /** read the request, send these bytes, then destroy the connection without ending it */
  | { kind: 'partial-then-close'; bytes: Buffer };

export interface ReplayServer {
  socketPath: string;
  /** every request received, raw */
  received: Buffer[];
  /** requests that matched no remaining exchange */
  unmatched: string[];
  /** exchanges given but never requested */
  unused(): string[];
  setBehaviour(b: ReplayBehaviour): void;
  /** more exchanges for later requests */
  add(...ex: Exchange[]): void;
  close(): Promise<void>;
}

export function show(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('utf8'));
}

/**
 * `reuse`: a matched exchange stays available (for read-only replays where the same read may
 * come many times); by default each exchange answers once.
 */
export async function startReplay(
  exchanges: readonly Exchange[] = [],
  opts: { reuse?: boolean } = {},
): Promise<ReplayServer> {
  const dir = mkdtempSync(join(tmpdir(), 'wq-qubesd-replay-'));
  const socketPath = join(dir, 'qubesd.sock');
  const queue: Exchange[] = [...exchanges];
  const received: Buffer[] = [];
  const unmatched: string[] = [];
  const open = new Set<Socket>();
  const used = new Set<string>();
  let behaviour: ReplayBehaviour = { kind: 'replay' };

  const server: Server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => undefined);
    const b = behaviour;
    if (b.kind === 'close-at-once') {
      sock.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => {
      const req = Buffer.concat(chunks);
      received.push(req);
      if (b.kind === 'never-answer') return;
      if (b.kind === 'raw') {
        sock.end(b.bytes);
        return;
      }
      if (b.kind === 'partial-then-close') {
        sock.write(b.bytes, () => sock.destroy());
        return;
      }
      const i = queue.findIndex((e) => e.request.equals(req));
      if (i < 0) {
        unmatched.push(show(req));
        sock.end();
        return;
      }
      const e = queue[i]!;
      if (opts.reuse !== true) queue.splice(i, 1);
      used.add(e.id);
      sock.end(e.response);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    received,
    unmatched,
    unused: () => (opts.reuse === true ? queue.filter((e) => !used.has(e.id)) : queue).map((e) => e.id),
    setBehaviour: (nb) => void (behaviour = nb),
    add: (...ex) => void queue.push(...ex),
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A synthetic exchange (for behaviour no recording covers, e.g. a Qubes 4.2 qubesd). */
export function synthetic(id: string, request: string, response: string): Exchange {
  return {
    id,
    file: 'synthetic',
    name: id,
    sequence: 0,
    request: Buffer.from(request, 'utf8'),
    response: Buffer.from(response, 'utf8'),
  };
}
