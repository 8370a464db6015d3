// The recorded qubesd exchanges (test/data/qubesd/transcripts, real qubes-core-admin 4.4.0, see
// test/data/README.md): request and response are the exact bytes as UTF-8 JSON strings.
// `qubesdRecording(dir)` reads any recording set laid out the same way; the plain exports read
// the default one.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { QUBESD_RECORDING, TEST_DATA, qubesdTranscriptsDir } from './test-data.ts';

/** the default qubesd recording set (qubes.xml, qubes-after-transcripts.xml, transcripts/) */
export const QUBESD_CONFORMANCE = QUBESD_RECORDING;
export const TRANSCRIPTS_DIR = qubesdTranscriptsDir(QUBESD_RECORDING);

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

/** The exchanges of one recording set, read once. */
export interface QubesdRecording {
  /** the recording set's folder */
  dir: string;
  /** every recorded exchange except the event stream and the offline-mode file, in sequence order */
  allExchanges(): Exchange[];
  /** one exchange by `<file>/<name>` */
  exchange(id: string): Exchange;
  exchanges(...ids: string[]): Exchange[];
  /** the success body of a recorded `0\0` answer as text */
  okBody(id: string): string;
  /** the payload part of a recorded request (after the header's NUL) */
  requestPayload(id: string): string;
}

const recordings = new Map<string, QubesdRecording>();

/** The recording set in `dir` (default: test/data/qubesd). */
export function qubesdRecording(dir: string = QUBESD_RECORDING): QubesdRecording {
  const known = recordings.get(dir);
  if (known !== undefined) return known;
  let all: Exchange[] | undefined;
  const allExchanges = (): Exchange[] => {
    if (all !== undefined) return all;
    const tdir = qubesdTranscriptsDir(dir);
    const out: Exchange[] = [];
    for (const f of readdirSync(tdir).sort()) {
      if (!f.endsWith('.json') || f === 'offline-mode.json' || f === 'admin.Events.json') continue;
      const file = f.slice(0, -'.json'.length);
      const doc = FileSchema.parse(JSON.parse(readFileSync(join(tdir, f), 'utf8')));
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
  };
  const exchange = (id: string): Exchange => {
    const e = allExchanges().find((x) => x.id === id);
    if (e === undefined) throw new Error(`no recorded exchange ${id} in ${dir}`);
    return e;
  };
  const rec: QubesdRecording = {
    dir,
    allExchanges,
    exchange,
    exchanges: (...ids) => ids.map(exchange),
    okBody(id) {
      const r = exchange(id).response;
      if (r[0] !== 0x30 || r[1] !== 0) throw new Error(`${id} is not a success answer`);
      return r.subarray(2).toString('utf8');
    },
    requestPayload(id) {
      const r = exchange(id).request;
      return r.subarray(r.indexOf(0) + 1).toString('utf8');
    },
  };
  recordings.set(dir, rec);
  return rec;
}

const DEFAULT = qubesdRecording();

/** Every recorded exchange of the default set except the event stream, in sequence order. */
export const allExchanges = (): Exchange[] => DEFAULT.allExchanges();
/** One exchange of the default set by `<file>/<name>`. */
export const exchange = (id: string): Exchange => DEFAULT.exchange(id);
export const exchanges = (...ids: string[]): Exchange[] => DEFAULT.exchanges(...ids);
/** The success body of a recorded `0\0` answer as text. */
export const okBody = (id: string): string => DEFAULT.okBody(id);
/** The payload part of a recorded request (after the header's NUL). */
export const requestPayload = (id: string): string => DEFAULT.requestPayload(id);

/** The Qubes R4.2 recordings (qubes-core-admin 4.2.39, see their README). */
export const QUBESD_R42 = join(TEST_DATA, 'qubesd-r4.2');
/** Exchanges of the Qubes R4.2 recording, where an empty response means qubesd closed the connection. */
export const exchanges42 = (...ids: string[]): Exchange[] => qubesdRecording(QUBESD_R42).exchanges(...ids);
