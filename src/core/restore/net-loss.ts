// Which running qubes lose network while a restore has a net qube stopped (issue 16). A running
// qube the restore overwrites is killed before its volumes are received (core/restore/apply.ts,
// admin.vm.Kill: qubesd's kill, unlike its shutdown, does not refuse a net qube with running
// qubes connected), and so are the running disposables of a disposable template it overwrites.
// The restore leaves them halted: every running qube whose network goes through one of them
// (its netvm, or its netvm's netvm, …) has none until the net qube is started again (qubesd then
// reconnects the running qubes). Pure: the plan and the live netvm of each running qube in.
import type { PlannedQube, RestorePlan } from './plan.ts';

export interface NetLossInput {
  /** per planned qube, the running qubes the restore stops for it (itself and/or its disposables) */
  stopped: Readonly<Record<string, readonly string[]>>;
  /** every running qube → its netvm as qubesd reports it ('' = none) */
  runningNetvms: Readonly<Record<string, string>>;
}

/**
 * Per planned qube that stops a qube with running qubes connected: those running qubes,
 * transitively (sys-net ← sys-firewall ← work), sorted. Qubes the restore stops itself are not
 * listed (they are stopped anyway: the plan says so), but the network of the qubes behind them is
 * followed. Planned qubes that cut nobody off have an empty list.
 */
export function computeNetLoss(input: NetLossInput): Record<string, string[]> {
  const stoppedAll = new Set(Object.values(input.stopped).flat());
  const users = new Map<string, string[]>();
  for (const [qube, netvm] of Object.entries(input.runningNetvms)) {
    if (netvm === '' || netvm === qube) continue;
    const list = users.get(netvm) ?? [];
    list.push(qube);
    users.set(netvm, list);
  }
  const out: Record<string, string[]> = {};
  for (const [planned, stops] of Object.entries(input.stopped)) {
    const seen = new Set<string>(stops);
    const queue = [...stops];
    const lost = new Set<string>();
    while (queue.length > 0) {
      const next = queue.shift()!;
      for (const u of users.get(next) ?? []) {
        if (seen.has(u)) continue;
        seen.add(u);
        queue.push(u);
        if (!stoppedAll.has(u)) lost.add(u);
      }
    }
    out[planned] = [...lost].sort();
  }
  return out;
}

/** The running qubes a planned qube's restore stops: itself when it runs, and its running disposables. */
export function stoppedBy(plan: Pick<RestorePlan, 'qubes'>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const q of plan.qubes) {
    if (!stops(q)) continue;
    const list = [...q.stopDisposables, ...(q.running ? [q.name] : [])];
    if (list.length > 0) out[q.name] = list;
  }
  return out;
}

/** Whether the restore carries this qube out (and so stops what it must stop). */
function stops(q: PlannedQube): boolean {
  return !q.fails && q.action !== 'skip';
}

/**
 * Whether the live netvm of the running qubes must be read at all: only when a running qube the
 * restore stops may provide network (`provides_network` of its live settings; a running
 * disposable's is not known without a read, so any such disposable counts).
 */
export function mayCutNetwork(plan: Pick<RestorePlan, 'qubes'>, providesNetwork: (qube: string) => boolean): boolean {
  return plan.qubes.some((q) => stops(q) && (q.stopDisposables.length > 0 || (q.running && providesNetwork(q.name))));
}
