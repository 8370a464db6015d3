// Dependency order of a restore: a qube's settings are applied after the qubes it refers to
// (template, netvm, default_dispvm, audiovm, guivm, management_dispvm) when those are being
// restored in the same run. Cycles (e.g. sys-firewall ↔ a disposable template whose netvm is
// sys-firewall) are broken by deferring the closing references to a second pass: the
// qube is configured without them, and they are set once every qube of the run exists.
import type { QubeClass } from '../qubes/model.ts';

export const REFERENCE_PROPERTIES = [
  'template',
  'netvm',
  'default_dispvm',
  'audiovm',
  'guivm',
  'management_dispvm',
] as const;

export interface OrderNode {
  name: string;
  klass: QubeClass;
  /** reference property → target qube name (only targets that are part of this run) */
  refs: Record<string, string>;
}

export interface RestoreOrder {
  order: string[];
  /** qube → reference properties whose write waits for the second pass */
  deferred: Record<string, string[]>;
}

const CLASS_RANK: Record<QubeClass, number> = {
  AdminVM: 0,
  TemplateVM: 1,
  StandaloneVM: 2,
  AppVM: 3,
  RemoteVM: 3,
  DispVM: 4,
};

function rank(node: OrderNode): [number, string] {
  return [CLASS_RANK[node.klass], node.name];
}

function before(a: OrderNode, b: OrderNode): boolean {
  const [ra, na] = rank(a);
  const [rb, nb] = rank(b);
  return ra !== rb ? ra < rb : na < nb;
}

/**
 * Kahn's algorithm; among ready qubes templates come first, then standalones, app qubes and
 * disposables, then by name, so the order is stable. When only cycles remain, the
 * best-ranked remaining qube goes next and its references to unfinished qubes are deferred.
 */
export function restoreOrder(nodes: readonly OrderNode[]): RestoreOrder {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const pending = new Map<string, Set<string>>();
  for (const node of nodes) {
    const deps = new Set<string>();
    for (const target of Object.values(node.refs)) if (target !== node.name && byName.has(target)) deps.add(target);
    pending.set(node.name, deps);
  }
  const done = new Set<string>();
  const order: string[] = [];
  const deferred: Record<string, string[]> = {};
  while (done.size < nodes.length) {
    let next: OrderNode | undefined;
    for (const node of nodes) {
      if (done.has(node.name)) continue;
      const deps = pending.get(node.name)!;
      if ([...deps].every((d) => done.has(d)) && (next === undefined || before(node, next))) next = node;
    }
    if (next === undefined) {
      // Only cycles remain. Break one that depends on nothing else unfinished: the qube goes
      // next only if every unfinished qube it needs also needs it (directly or not), so a
      // qube that merely refers to a cycle still waits for the whole cycle.
      const reaches = (from: string, to: string): boolean => {
        const seen = new Set<string>();
        const stack = [from];
        while (stack.length > 0) {
          const n = stack.pop()!;
          if (n === to) return true;
          if (seen.has(n)) continue;
          seen.add(n);
          for (const d of pending.get(n) ?? []) if (!done.has(d)) stack.push(d);
        }
        return false;
      };
      for (const node of nodes) {
        if (done.has(node.name)) continue;
        const open = [...pending.get(node.name)!].filter((d) => !done.has(d));
        if (!open.every((d) => reaches(d, node.name))) continue;
        if (next === undefined || before(node, next)) next = node;
      }
      // (cannot happen: a stuck graph always has a cycle that needs nothing outside itself)
      if (next === undefined)
        for (const node of nodes) if (!done.has(node.name) && (next === undefined || before(node, next))) next = node;
      const late = Object.entries(next!.refs)
        .filter(([, target]) => byName.has(target) && !done.has(target) && target !== next!.name)
        .map(([prop]) => prop)
        .sort();
      deferred[next!.name] = late;
    }
    done.add(next!.name);
    order.push(next!.name);
  }
  return { order, deferred };
}
