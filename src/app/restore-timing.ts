import type { RestorePhase } from '../core/restore/apply.ts';

/** Where a restore's time went (ms): Wyng's processes, ours, and ours split by phase. */
export interface RestoreTiming {
  /** every Wyng process of the run (list, metadata receive, data receive) */
  wyngMs: number;
  /** everything else but the post steps: planMs + applyMs + verifyMs */
  oursMs: number;
  /** from the start to the plan, without Wyng's list and metadata receive */
  planMs: number;
  /** stops, creates, settings writes (without the data receive) */
  applyMs: number;
  /** re-reading and checking what was written */
  verifyMs: number;
  /** post steps (menu sync: qube starts and qvm-appmenus), neither ours nor Wyng's */
  postMs: number;
  /**
   * CPU time of this process (user + system) for the whole run: ours without the waits for qubesd
   * and Wyng (on a loaded machine, wall time says more about the machine than about us)
   */
  cpuMs: number;
}

/**
 * The restore's stopwatch: `planned()` once the plan is made, `phase` from applyRestore, and
 * `wyngMs()` the running total of Wyng's processes (read at each mark).
 */
export class RestoreClock {
  private readonly t0 = performance.now();
  private readonly cpu0 = process.cpuUsage();
  private readonly marks = new Map<string, { at: number; wyng: number }>();
  constructor(private readonly wyngMs: () => number) {}

  mark(name: 'planned' | RestorePhase): void {
    this.marks.set(name, { at: performance.now(), wyng: this.wyngMs() });
  }

  readonly phase = (p: RestorePhase): void => this.mark(p);

  /** Ours between two marks: wall time minus Wyng's time in between. */
  private ours(from: string | undefined, to: string): number {
    const a = from === undefined ? { at: this.t0, wyng: 0 } : this.marks.get(from);
    const b = this.marks.get(to);
    if (a === undefined || b === undefined) return 0;
    return Math.max(0, b.at - a.at - (b.wyng - a.wyng));
  }

  timing(): RestoreTiming {
    if (!this.marks.has('done')) this.mark('done');
    const round = (n: number): number => Math.round(n * 10) / 10;
    const planMs = this.ours(undefined, 'planned');
    const applyMs = this.ours('planned', 'verify');
    const verifyMs = this.ours('verify', 'post');
    return {
      wyngMs: round(this.wyngMs()),
      oursMs: round(planMs + applyMs + verifyMs),
      planMs: round(planMs),
      applyMs: round(applyMs),
      verifyMs: round(verifyMs),
      postMs: round(this.ours('post', 'done')),
      cpuMs: round(cpuMs(process.cpuUsage(this.cpu0))),
    };
  }
}

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
