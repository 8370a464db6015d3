// The restore preview's net loss (issue 16): which running qubes lose network because the restore
// stops a qube they reach the network through. Reads the live netvms only when a stopped qube may
// provide network (an unchanged or non-network restore costs no Admin API call).
import type { QubeSettings } from '../core/qubes/model.ts';
import { computeNetLoss, mayCutNetwork, stoppedBy } from '../core/restore/net-loss.ts';
import type { LiveQube, RestorePlan } from '../core/restore/plan.ts';
import type { QubesSystem } from './ports.ts';

/** Sets `netLoss` on every planned qube (empty when it cuts nobody off). */
export async function addNetLoss(
  live: Pick<QubesSystem, 'runningNetvms'>,
  liveQubes: readonly LiveQube[],
  settings: ReadonlyMap<string, QubeSettings>,
  plan: RestorePlan,
): Promise<void> {
  const providesNetwork = (q: string): boolean => settings.get(q)?.properties.provides_network === 'True';
  const loss = mayCutNetwork(plan, providesNetwork)
    ? computeNetLoss({ stopped: stoppedBy(plan), runningNetvms: await live.runningNetvms(liveQubes) })
    : {};
  for (const q of plan.qubes) q.netLoss = loss[q.name] ?? [];
}
