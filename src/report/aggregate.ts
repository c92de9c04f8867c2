/**
 * Cross-fold (or cross-variant) aggregation of evaluate's metrics.json files: per metric the
 * mean, std, min, max and every instance's value, plus the pooled confusion matrix (every
 * instance's held-out clips counted once) and the metrics computed from it. Pure; no I/O.
 */
import { classificationMetrics, type SplitMetrics } from './metrics.js';

/** The headline metrics aggregated per split. */
export const AGGREGATED_METRICS = ['accuracy', 'uar', 'macroF1'] as const;
export type AggregatedMetric = (typeof AGGREGATED_METRICS)[number];

export interface Spread {
  mean: number;
  /** Population standard deviation over instances (numpy's default, ddof=0). */
  std: number;
  min: number;
  max: number;
  /** Every instance's value, keyed by its label (e.g. "fold=2"), in instance order. */
  perFold: Record<string, number>;
}

export interface SplitSummary {
  accuracy: Spread;
  uar: Spread;
  macroF1: Spread;
  /** Samples per instance. */
  samples: Record<string, number>;
  /** Metrics of all instances' predictions pooled into one confusion matrix. */
  pooled: SplitMetrics;
}

/** One evaluated instance: its label and the per-split sections of its metrics.json. */
export interface EvaluatedInstance {
  label: string;
  splits: Record<string, Pick<SplitMetrics, 'accuracy' | 'uar' | 'macroF1' | 'labels' | 'confusionMatrix' | 'samples'>>;
}

export function spread(values: Record<string, number>): Spread {
  const xs = Object.values(values);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) * (x - mean), 0) / xs.length);
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs), perFold: { ...values } };
}

/** Sum of confusion matrices (all in the same label order). */
export function poolConfusion(matrices: number[][][]): number[][] {
  const k = matrices[0]!.length;
  return Array.from({ length: k }, (_, r) => Array.from({ length: k }, (_, c) => matrices.reduce((a, m) => a + m[r]![c]!, 0)));
}

/** Metrics of a confusion matrix (expanded back into label pairs, so every definition is metrics.ts's). */
export function metricsOfConfusion(cm: number[][], labels: string[]): SplitMetrics {
  const yTrue: number[] = [];
  const yPred: number[] = [];
  cm.forEach((row, r) => row.forEach((n, c) => {
    for (let i = 0; i < n; i++) {
      yTrue.push(r);
      yPred.push(c);
    }
  }));
  return classificationMetrics(yTrue, yPred, labels);
}

/**
 * Aggregate each split that every instance has. Throws (with the instance's label) when two
 * instances disagree on the class labels: pooling them would be meaningless.
 */
export function aggregateInstances(instances: EvaluatedInstance[]): Record<string, SplitSummary> {
  const out: Record<string, SplitSummary> = {};
  if (!instances.length) return out;
  const splitNames = Object.keys(instances[0]!.splits).filter((s) => instances.every((i) => i.splits[s]));
  for (const split of splitNames) {
    const labels = instances[0]!.splits[split]!.labels;
    for (const i of instances) {
      if (JSON.stringify(i.splits[split]!.labels) !== JSON.stringify(labels)) {
        throw new Error(`${i.label}: its ${split} labels (${i.splits[split]!.labels.join(', ')}) differ from ${instances[0]!.label}'s (${labels.join(', ')})`);
      }
    }
    const values = (m: AggregatedMetric) => Object.fromEntries(instances.map((i) => [i.label, i.splits[split]![m]]));
    const pooledCm = poolConfusion(instances.map((i) => i.splits[split]!.confusionMatrix));
    out[split] = {
      accuracy: spread(values('accuracy')),
      uar: spread(values('uar')),
      macroF1: spread(values('macroF1')),
      samples: Object.fromEntries(instances.map((i) => [i.label, i.splits[split]!.samples])),
      pooled: metricsOfConfusion(pooledCm, labels),
    };
  }
  return out;
}
