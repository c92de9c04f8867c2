/**
 * Experiments: `--sweep key=v1,v2` grids of runs recorded under one experiment id, and the
 * comparison of runs (the parameters that differ, then the metrics, sorted by one of them).
 * Knows nothing of audio: parameters and metrics are whatever the records hold.
 */
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { EmopipeError } from '../util/errors.js';
import { canonicalJson } from '../util/hash.js';
import type { Registry, RunRecord } from './registry.js';

export interface Sweep {
  key: string;
  values: unknown[];
}

/** `train.lr.initial=0.001,0.0003` → {key, values: [0.001, 0.0003]}; values are YAML (`'a=[1,2],[3]'` gives two lists). */
export function parseSweep(text: string): Sweep {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new EmopipeError('E_USAGE', `--sweep ${text}: expected KEY=V1,V2,... (e.g. train.lr.initial=0.001,0.0003)`);
  const key = text.slice(0, eq).trim();
  let values: unknown;
  try {
    // A flow sequence around the list: commas separate values, brackets and quotes nest.
    values = parseYaml(`[${text.slice(eq + 1)}]`);
  } catch (e) {
    throw new EmopipeError('E_USAGE', `--sweep ${text}: values are not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!Array.isArray(values) || values.length === 0) {
    throw new EmopipeError('E_USAGE', `--sweep ${text}: give at least one value`);
  }
  const seen = new Set(values.map((v) => canonicalJson(v)));
  if (seen.size !== values.length) throw new EmopipeError('E_USAGE', `--sweep ${text}: a value is listed twice`);
  return { key, values };
}

/** Every combination of the sweeps (first sweep slowest), as `--set` texts. */
export function sweepGrid(sweeps: readonly Sweep[]): string[][] {
  const keys = new Set<string>();
  for (const s of sweeps) {
    if (keys.has(s.key)) throw new EmopipeError('E_USAGE', `--sweep ${s.key} is given twice; list all its values in one --sweep`);
    keys.add(s.key);
  }
  let grid: string[][] = [[]];
  for (const s of sweeps) grid = grid.flatMap((sets) => s.values.map((v) => [...sets, `${s.key}=${JSON.stringify(v)}`]));
  return grid;
}

/** A fresh experiment id: `exp-` and 10 hex digits (never mistaken for a run hash). */
export function newExperimentId(): string {
  return `exp-${randomBytes(5).toString('hex')}`;
}

/** The runs named by `refs`: experiment ids (or unique prefixes of them) and run refs, in record order. */
export function resolveRuns(registry: Registry, refs: readonly string[]): RunRecord[] {
  // Experiment names from the light summaries; only the runs asked for are read whole.
  const experiments = [...new Set(registry.query().map((r) => r.experiment).filter((e): e is string => !!e))];
  const out: RunRecord[] = [];
  const add = (r: RunRecord) => {
    if (!out.some((o) => o.run === r.run && o.startedAt === r.startedAt)) out.push(r);
  };
  for (const ref of refs) {
    const exps = experiments.filter((e) => e === ref || e.startsWith(ref));
    const exact = exps.includes(ref) ? [ref] : exps;
    if (exact.length > 1) throw new EmopipeError('E_USAGE', `'${ref}' matches experiments ${exact.join(', ')}; give more characters`);
    if (exact.length === 1) {
      registry.records({ experiment: exact[0] }).forEach(add);
      continue;
    }
    add(registry.find(ref));
  }
  return out;
}

type Scalar = number | string | boolean | null;

/** Leaf values of a config (arrays are leaves), as 'stage.a.b' → value. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, value);
}

/**
 * A run's parameters as the stages were written (matrix values and `${matrix.*}` references
 * kept, so the instances of a matrix stage count once): 'seed', 'train.lr.initial',
 * 'split.matrix.fold', ...
 */
export function runParams(rec: RunRecord): Map<string, unknown> {
  const out = new Map<string, unknown>([['seed', rec.seed]]);
  let doc: { stages?: Record<string, { with?: unknown; matrix?: unknown }> } = {};
  try {
    doc = (parseYaml(rec.resolvedYaml) ?? {}) as typeof doc;
  } catch {
    /* an unreadable record compares on its seed alone */
  }
  for (const [name, s] of Object.entries(doc.stages ?? {})) {
    flatten(s?.with ?? {}, name, out);
    if (s?.matrix) flatten(s.matrix, `${name}.matrix`, out);
  }
  return out;
}

function runMetrics(rec: RunRecord): Map<string, Scalar> {
  const out = new Map<string, Scalar>();
  for (const [stage, m] of Object.entries(rec.metrics ?? {})) for (const [k, v] of Object.entries(m)) out.set(`${stage}.${k}`, v);
  return out;
}

export interface ComparedRun {
  run: string;
  experiment?: string;
  pipeline: string;
  status: string;
  /** Values of the varied parameters. */
  params: Record<string, unknown>;
  /** The shown metrics. */
  metrics: Record<string, Scalar>;
}

export interface Comparison {
  /** Parameters whose value differs between the runs. */
  varied: string[];
  /** Metric columns (stage.metric). */
  metrics: string[];
  sortedBy: string | null;
  ascending: boolean;
  runs: ComparedRun[];
}

/**
 * The metric runs are judged by: a fold summary's test accuracy mean, else any accuracy mean,
 * else the last stage's accuracy (what `runs` shows).
 */
export function defaultSortMetric(records: readonly RunRecord[]): string | null {
  const keys = records.flatMap((r) => [...runMetrics(r).keys()]);
  for (const suffix of ['.test_accuracy_mean', '.accuracy_mean', '.test_accuracy', '.accuracy']) {
    const hits = keys.filter((k) => k.endsWith(suffix));
    if (hits.length) return hits[hits.length - 1]!;
  }
  return keys[0] ?? null;
}

/** `accuracy` → the one metric key named so (stage.accuracy), or the key itself. */
function resolveMetric(name: string, keys: readonly string[]): string {
  if (keys.includes(name)) return name;
  const hits = [...new Set(keys.filter((k) => k.endsWith(`.${name}`)))];
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new EmopipeError('E_USAGE', `metric '${name}' is ambiguous: ${hits.join(', ')}`);
  throw new EmopipeError('E_USAGE', `no metric '${name}' in these runs (metrics: ${[...new Set(keys)].join(', ') || 'none'})`);
}

export function compareRuns(records: readonly RunRecord[], opts: { sort?: string; metrics?: string[]; ascending?: boolean } = {}): Comparison {
  const params = records.map(runParams);
  const metrics = records.map(runMetrics);
  const keys = [...new Set(params.flatMap((p) => [...p.keys()]))];
  const varied = keys.filter((k) => new Set(params.map((p) => (p.has(k) ? canonicalJson(p.get(k)) : '<unset>'))).size > 1);
  const metricKeys = [...new Set(metrics.flatMap((m) => [...m.keys()]))];
  const sortedBy = opts.sort ? resolveMetric(opts.sort, metricKeys) : defaultSortMetric(records);
  let shown: string[];
  if (opts.metrics?.length) shown = opts.metrics.map((m) => resolveMetric(m, metricKeys));
  else if (sortedBy) {
    // The metrics of the stage the runs are sorted by (a fold summary: its means and stds).
    const stage = sortedBy.slice(0, sortedBy.lastIndexOf('.'));
    shown = metricKeys.filter((k) => k.startsWith(`${stage}.`) && !k.endsWith('.instances'));
  } else shown = [];
  if (sortedBy && !shown.includes(sortedBy)) shown.unshift(sortedBy);
  const ascending = opts.ascending ?? false;
  const rows: ComparedRun[] = records.map((r, i) => ({
    run: r.run,
    ...(r.experiment ? { experiment: r.experiment } : {}),
    pipeline: r.pipeline,
    status: r.status,
    params: Object.fromEntries(varied.map((k) => [k, params[i]!.get(k)])),
    metrics: Object.fromEntries(shown.map((k) => [k, metrics[i]!.get(k) ?? null])),
  }));
  if (sortedBy) {
    const value = (i: number) => metrics[i]!.get(sortedBy);
    const order = rows.map((_, i) => i).sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      const na = typeof va === 'number';
      const nb = typeof vb === 'number';
      if (na && nb) return ascending ? (va as number) - (vb as number) : (vb as number) - (va as number);
      return na ? -1 : nb ? 1 : a - b; // runs without the metric go last
    });
    return { varied, metrics: shown, sortedBy, ascending, runs: order.map((i) => rows[i]!) };
  }
  return { varied, metrics: shown, sortedBy, ascending, runs: rows };
}
