// The recorded qubesd exchanges (../shared/conformance/qubesd/transcripts, real qubes-core-admin
// 4.4.0): request and response are the exact bytes as UTF-8 JSON strings.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const QUBESD_CONFORMANCE = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'shared',
  'conformance',
  'qubesd',
);
export const TRANSCRIPTS_DIR = join(QUBESD_CONFORMANCE, 'transcripts');

const ExchangeSchema = z.object({
  sequence: z.number().int(),
  name: z.string(),
  description: z.string().optional(),
  request: z.string(),
  response: z.string(),
});
const FileSchema = z.object({ method: z.string(), exchanges: z.array(ExchangeSchema) });

export interface Exchange {
  /** `<file>/<name>`, e.g. `admin.vm.List/all` */
  id: string;
  file: string;
  name: string;
  sequence: number;
  request: Buffer;
  response: Buffer;
}

let all: Exchange[] | undefined;

/** Every recorded exchange except the event stream, in sequence order. */
export function allExchanges(): Exchange[] {
  if (all !== undefined) return all;
  const out: Exchange[] = [];
  for (const f of readdirSync(TRANSCRIPTS_DIR).sort()) {
    if (!f.endsWith('.json') || f === 'offline-mode.json' || f === 'admin.Events.json') continue;
    const file = f.slice(0, -'.json'.length);
    const doc = FileSchema.parse(JSON.parse(readFileSync(join(TRANSCRIPTS_DIR, f), 'utf8')));
    for (const e of doc.exchanges) {
      out.push({
        id: `${file}/${e.name}`,
        file,
        name: e.name,
        sequence: e.sequence,
        request: Buffer.from(e.request, 'utf8'),
        response: Buffer.from(e.response, 'utf8'),
      });
    }
  }
  all = out.sort((a, b) => a.sequence - b.sequence);
  return all;
}

/** One exchange by `<file>/<name>`. */
export function exchange(id: string): Exchange {
  const e = allExchanges().find((x) => x.id === id);
  if (e === undefined) throw new Error(`no recorded exchange ${id}`);
  return e;
}

export function exchanges(...ids: string[]): Exchange[] {
  return ids.map(exchange);
}

/** The success body of a recorded `0\0` answer as text. */
export function okBody(id: string): string {
  const r = exchange(id).response;
  if (r[0] !== 0x30 || r[1] !== 0) throw new Error(`${id} is not a success answer`);
  return r.subarray(2).toString('utf8');
}

/** The payload part of a recorded request (after the header's NUL). */
export function requestPayload(id: string): string {
  const r = exchange(id).request;
  return r.subarray(r.indexOf(0) + 1).toString('utf8');
}
