/** What differs between two recorded runs: parameters (per stage) and metrics, as readable lines. */
import { formatValue } from '../util/format-value.js';
import type { RunRecord } from './run-record.js';
import { paramChanges } from './status.js';

function flatMetrics(rec: RunRecord): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [stage, m] of Object.entries(rec.metrics ?? {})) for (const [k, v] of Object.entries(m)) out.set(`${stage}.${k}`, v);
  return out;
}

export function diffRuns(a: RunRecord, b: RunRecord): { params: string[]; metrics: string[] } {
  const params: string[] = [];
  if (a.seed !== b.seed) params.push(`seed changed ${a.seed} → ${b.seed}`);
  const names = [...new Set([...a.stages.map((s) => s.name), ...b.stages.map((s) => s.name)])];
  for (const n of names) {
    const sa = a.stages.find((s) => s.name === n);
    const sb = b.stages.find((s) => s.name === n);
    if (!sa) params.push(`stage ${n} only in ${b.run.slice(0, 12)}`);
    else if (!sb) params.push(`stage ${n} only in ${a.run.slice(0, 12)}`);
    else {
      if (sa.kind !== sb.kind) params.push(`${n} kind changed ${sa.kind} → ${sb.kind}`);
      else if (sa.parts && sb.parts && sa.parts.version !== sb.parts.version) params.push(`${n}: code of kind ${sa.kind} changed`);
      params.push(...paramChanges(n, sa.params, sb.params));
    }
  }
  const ma = flatMetrics(a);
  const mb = flatMetrics(b);
  const metrics: string[] = [];
  for (const k of [...new Set([...ma.keys(), ...mb.keys()])].sort()) {
    const va = ma.get(k);
    const vb = mb.get(k);
    if (JSON.stringify(va) === JSON.stringify(vb)) continue;
    const delta = typeof va === 'number' && typeof vb === 'number' ? `  (${vb - va >= 0 ? '+' : ''}${formatValue(vb - va)})` : '';
    metrics.push(`${k}: ${va === undefined ? '-' : formatValue(va)} → ${vb === undefined ? '-' : formatValue(vb)}${delta}`);
  }
  return { params, metrics };
}
