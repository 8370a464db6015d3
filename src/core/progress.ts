// Progress of one Wyng run over a known list of volumes (send, receive, verify; issue 16): which
// volume and qube it is at, the bytes done, the rate and an estimate of the time left. Wyng says
// which volume it starts and, in some modes, a percent of the current volume; the size of each
// volume is known beforehand (the archive listing's volsize for receive and verify, the pool's usage
// for send). A volume counts as done when the next one starts or the run ends; the percent Wyng
// prints moves the figure inside a volume. Pure: the time comes in as milliseconds.
import { parseVolumeName } from './archive.ts';
import { escapeForTerminal } from './terminal.ts';

export interface ProgressVolume {
  name: string;
  /** bytes of the volume; undefined = not known (it then counts as 0) */
  bytes?: number | undefined;
}

export interface ProgressSnapshot {
  /** 1-based index of the current volume (0 before the first, total at the end) */
  index: number;
  total: number;
  /** the current volume; null before the first and at the end */
  volume: string | null;
  /** the qube of the current volume (null for the metadata and other non-qube volumes) and its 1-based index */
  qube: string | null;
  qubeIndex: number;
  qubeTotal: number;
  bytesDone: number;
  bytesTotal: number;
  elapsedMs: number;
  /** bytes per second so far; null until something is done */
  rate: number | null;
  /** seconds left at that rate; null without a rate or without known sizes */
  etaSeconds: number | null;
  finished: boolean;
}

const MIB = 1024 * 1024;

export class VolumeProgress {
  private readonly sizes = new Map<string, number>();
  private readonly qubeOrder: string[] = [];
  private readonly qubeTotal: number;
  private readonly bytesTotal: number;
  private index = 0;
  private current: string | null = null;
  private doneBefore = 0;
  private bytesDone = 0;
  private finished = false;
  private total: number;

  constructor(
    volumes: readonly ProgressVolume[],
    private readonly started: number,
  ) {
    for (const v of volumes) {
      const b = v.bytes;
      this.sizes.set(v.name, b !== undefined && Number.isFinite(b) && b > 0 ? b : 0);
    }
    this.bytesTotal = [...this.sizes.values()].reduce((a, b) => a + b, 0);
    this.qubeTotal = new Set(volumes.map((v) => parseVolumeName(v.name)?.qube).filter((q) => q !== undefined)).size;
    this.total = volumes.length;
  }

  /** Wyng starts a volume: the one before it is done. */
  start(name: string, now: number): ProgressSnapshot {
    this.completeCurrent();
    this.index += 1;
    if (this.index > this.total) this.total = this.index; // a volume Wyng sends beyond the list
    this.current = name;
    const qube = parseVolumeName(name)?.qube;
    if (qube !== undefined && !this.qubeOrder.includes(qube)) this.qubeOrder.push(qube);
    return this.snapshot(now);
  }

  /** Wyng's percent of the current volume (0–100); the figure never goes back. */
  percent(pct: number, now: number): ProgressSnapshot | undefined {
    if (this.current === null || this.finished || !Number.isFinite(pct)) return undefined;
    const size = this.sizes.get(this.current) ?? 0;
    const inside = (Math.min(100, Math.max(0, pct)) / 100) * size;
    this.bytesDone = Math.max(this.bytesDone, Math.min(this.bytesTotal, this.doneBefore + inside));
    return this.snapshot(now);
  }

  /** The run ended: every listed volume is done (processed, failed or not). */
  finish(now: number): ProgressSnapshot {
    this.completeCurrent();
    this.finished = true;
    this.index = this.total;
    this.bytesDone = this.bytesTotal;
    return this.snapshot(now);
  }

  private completeCurrent(): void {
    if (this.current === null) return;
    this.doneBefore = Math.min(this.bytesTotal, this.doneBefore + (this.sizes.get(this.current) ?? 0));
    this.bytesDone = Math.max(this.bytesDone, this.doneBefore);
    this.current = null;
  }

  private snapshot(now: number): ProgressSnapshot {
    const elapsedMs = Math.max(0, now - this.started);
    const rate = elapsedMs > 0 && this.bytesDone > 0 ? this.bytesDone / (elapsedMs / 1000) : null;
    const left = this.bytesTotal - this.bytesDone;
    const etaSeconds = this.finished ? 0 : rate !== null && this.bytesTotal > 0 ? left / rate : null;
    const qube = this.current === null ? undefined : parseVolumeName(this.current)?.qube;
    return {
      index: this.index,
      total: this.total,
      volume: this.current,
      qube: qube ?? null,
      qubeIndex: qube === undefined ? 0 : this.qubeOrder.indexOf(qube) + 1,
      qubeTotal: this.qubeTotal,
      bytesDone: Math.round(this.bytesDone),
      bytesTotal: this.bytesTotal,
      elapsedMs,
      rate: rate === null ? null : Math.round(rate),
      etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds),
      finished: this.finished,
    };
  }
}

const mib = (bytes: number): string => (bytes / MIB).toFixed(1);

/**
 * The terminal line of a snapshot, e.g. `[volume 3 of 5, qube 2 of 3: work] appvms/work/private.img —
 * 12.0 of 40.0 MiB, 3.1 MiB/s, 4 s, about 9 s left`; at the end `[done] 40.0 MiB in 12 s, 3.3 MiB/s`.
 * Names come from Wyng's output: escaped.
 */
export function formatProgressLine(s: ProgressSnapshot): string {
  const secs = `${Math.round(s.elapsedMs / 1000)} s`;
  const rate = s.rate !== null ? `, ${mib(s.rate)} MiB/s` : '';
  if (s.finished) {
    const bytes = s.bytesTotal > 0 ? `${mib(s.bytesTotal)} MiB in ` : '';
    return `[done: ${s.total} volume(s)] ${bytes}${secs}${rate}`;
  }
  const qube = s.qube !== null ? `, qube ${s.qubeIndex} of ${s.qubeTotal}: ${escapeForTerminal(s.qube)}` : '';
  const head = `[volume ${s.index} of ${s.total}${qube}] ${escapeForTerminal(s.volume ?? '')}`;
  const bytes = s.bytesTotal > 0 ? ` — ${mib(s.bytesDone)} of ${mib(s.bytesTotal)} MiB${rate}, ` : ' — ';
  const eta = s.etaSeconds !== null ? `, about ${s.etaSeconds} s left` : '';
  return `${head}${bytes}${secs}${eta}`;
}
