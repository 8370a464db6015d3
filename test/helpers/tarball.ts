import { gzipSync } from 'node:zlib';

/** Hand-built tar entries, so tests can make the hostile archives no tar tool would write. */
export interface TarEntrySpec {
  name: string;
  /** ustar type flag: '0' file, '1' hardlink, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo, 'S' sparse.
   * */
  type?: string;
  data?: Buffer | string;
  /** Declared size when it must differ from data (e.g. a huge sparse file header). */
  size?: number;
  linkname?: string;
  /** Raw name bytes (e.g. non-UTF-8), overriding `name`. */
  rawName?: Buffer;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(e: TarEntrySpec, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const name = e.rawName ?? Buffer.from(e.name, 'utf8');
  if (name.length > 100) throw new Error('name too long for this helper');
  name.copy(h, 0);
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  // sizes above 8 GiB-1 need base-256; the helper covers what tests need with octal (11 digits).
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(e.type ?? '0', 156, 'ascii');
  if (e.linkname !== undefined) h.write(e.linkname, 157, 'utf8');
  h.write('ustar\x0000', 257, 'binary');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

export function makeTar(entries: TarEntrySpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const size = e.size ?? data.length;
    parts.push(header(e, size));
    if (data.length > 0) {
      parts.push(data);
      const pad = (512 - (data.length % 512)) % 512;
      parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function makeTgz(entries: TarEntrySpec[]): Buffer {
  return gzipSync(makeTar(entries));
}
