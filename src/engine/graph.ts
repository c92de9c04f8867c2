import type { EmopipeError } from '../util/errors.js';

interface Node {
  name: string;
  needs: string[];
}

/**
 * Topological order, stable with respect to the input order (a stage comes as early as its
 * needs allow). A cycle is reported with its path, e.g. ['a', 'b', 'c', 'a'].
 */
export function orderStages<T extends Node>(nodes: readonly T[], cycleError: (cycle: string[]) => EmopipeError): T[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, 'visiting' | 'done'>();
  const out: T[] = [];
  const stack: string[] = [];
  const visit = (n: T) => {
    const st = state.get(n.name);
    if (st === 'done') return;
    if (st === 'visiting') {
      const from = stack.indexOf(n.name);
      throw cycleError([...stack.slice(from), n.name]);
    }
    state.set(n.name, 'visiting');
    stack.push(n.name);
    for (const d of n.needs) {
      const dep = byName.get(d);
      if (dep) visit(dep);
    }
    stack.pop();
    state.set(n.name, 'done');
    out.push(n);
  };
  for (const n of nodes) visit(n);
  return out;
}
