/** What the runs list shows of a run: the `runs --json` fields plus headline metrics. */
import type { RunRecord } from '../engine/registry.js';
import { experimentOf, trainStageOf } from './runs-source.js';

export interface Headline {
  /** Validation and test accuracy / UAR of the last stage that reports them. */
  accuracy?: number;
  uar?: number;
  testAccuracy?: number;
  testUar?: number;
  /** Cross-validation mean ± std of test accuracy (a run with a summary of folds; else of validation accuracy). */
  cvMean?: number;
  cvStd?: number;
}

export interface RunSummary {
  run: string;
  startedAt: string;
  pipeline: string;
  status: string;
  seconds: number;
  experiment: string | null;
  /** Name of the train stage whose model can be tried, or null. */
  trainStage: string | null;
  headline: Headline;
  metrics: RunRecord['metrics'];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function headlineOf(rec: RunRecord): Headline {
  const h: Headline = {};
  for (const m of Object.values(rec.metrics ?? {})) {
    const pick = (k: string) => num(m[k]);
    if (pick('accuracy') !== undefined) {
      h.accuracy = pick('accuracy');
      h.uar = pick('uar');
      h.testAccuracy = pick('test_accuracy');
      h.testUar = pick('test_uar');
    }
    // A summarize stage: the test folds' accuracy (its validation figures are unprefixed).
    const split = pick('test_accuracy_mean') !== undefined ? 'test_' : '';
    const mean = pick(`${split}accuracy_mean`);
    if (mean !== undefined) {
      h.cvMean = mean;
      h.cvStd = pick(`${split}accuracy_std`);
    }
  }
  return h;
}

export function summaryOf(rec: RunRecord): RunSummary {
  return {
    run: rec.run,
    startedAt: rec.startedAt,
    pipeline: rec.pipeline,
    status: rec.status,
    seconds: rec.seconds,
    experiment: experimentOf(rec),
    trainStage: trainStageOf(rec)?.name ?? null,
    headline: headlineOf(rec),
    metrics: rec.metrics,
  };
}

const summaryCache = new WeakMap<RunRecord, RunSummary>();

/** summaryOf, computed once per record object (the runs source keeps records while unchanged). */
export function cachedSummaryOf(rec: RunRecord): RunSummary {
  let s = summaryCache.get(rec);
  if (!s) summaryCache.set(rec, (s = summaryOf(rec)));
  return s;
}
