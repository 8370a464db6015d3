// The recorded qubesd exchanges: request and response are the exact bytes as UTF-8 JSON strings.
// Default: real qubes-core-admin 4.4.0 (../shared/conformance/qubesd/transcripts); every loader
// takes another recording dir (e.g. QUBESD_R42 = test/data/qubesd-r4.2, qubes-core-admin 4.2.39),
// where an empty response means qubesd closed the connection without a byte.
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
/** The Qubes R4.2 recordings (see their README). */
export const QUBESD_R42 = join(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'qubesd-r4.2');

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

const loaded = new Map<string, Exchange[]>();

/** Every recorded exchange of a recording dir except the event stream, in sequence order. */
export function allExchanges(dir: string = QUBESD_CONFORMANCE): Exchange[] {
  const cached = loaded.get(dir);
  if (cached !== undefined) return cached;
  const out: Exchange[] = [];
  const TRANSCRIPTS_DIR = join(dir, 'transcripts');
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
  const all = out.sort((a, b) => a.sequence - b.sequence);
  loaded.set(dir, all);
  return all;
}

/** One exchange by `<file>/<name>`. */
export function exchange(id: string, dir: string = QUBESD_CONFORMANCE): Exchange {
  const e = allExchanges(dir).find((x) => x.id === id);
  if (e === undefined) throw new Error(`no recorded exchange ${id}`);
  return e;
}

export function exchanges(...ids: string[]): Exchange[] {
  return ids.map((id) => exchange(id));
}

/** Exchanges of the Qubes R4.2 recording (test/data/qubesd-r4.2). */
export function exchanges42(...ids: string[]): Exchange[] {
  return ids.map((id) => exchange(id, QUBESD_R42));
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
