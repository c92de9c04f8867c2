/**
 * Pure report code for the evaluate stage (src/stages/evaluate.ts runs it): read train's and
 * mfcc's outputs, pick the held-out rows, and format predictions.csv, metrics.json, the plots
 * and the headline metrics. No engine imports.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOriginal, readFeatureSet, type FeatureIndexRow } from '../corpus/features-set.js';
import { modelFile, readHistory, readModelLabels, readTrainSummary } from '../model/artifacts.js';
import type { Logger } from '../util/log.js';
import { argmaxRows, type SplitEvaluation, type SplitPredictions } from './metrics.js';
import { confusionSpec, curvesSpec, pngFontsAvailable, renderSvg, svgToPng, type HistoryRow } from './plots.js';

export type EvalSplit = 'validation' | 'test';

/** JSON that refuses NaN/Infinity instead of silently writing null. */
export function strictJson(value: unknown): string {
  return JSON.stringify(
    value,
    (key, v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`non-finite number ${v} at "${key}" in metrics`);
      return v;
    },
    2,
  ) + '\n';
}

/** Top-level scalar fields of train.json (best_epoch, epochs, ...), for the report and metrics.json. */
function scalarFields(obj: unknown): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) {
      if (v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
    }
  }
  return out;
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface Upstream {
  labels: string[];
  history: HistoryRow[];
  trainInfo: Record<string, string | number | boolean | null>;
  bestEpoch?: number;
  synthetic: boolean;
  modelPath: string;
  features: Float32Array;
  frames: number;
  coeffs: number;
  index: FeatureIndexRow[];
}

/** Read and check train's and mfcc's outputs; every problem is a typed error naming the file. */
export function readUpstream(trainDir: string, mfccDir: string): Upstream {
  const labels = readModelLabels(trainDir);
  const history = readHistory<HistoryRow>(trainDir);
  const trainInfo = scalarFields(readTrainSummary(trainDir));
  const modelPath = modelFile(trainDir);
  const set = readFeatureSet(mfccDir);
  return {
    labels,
    history,
    trainInfo,
    bestEpoch: typeof trainInfo.best_epoch === 'number' ? trainInfo.best_epoch : undefined,
    // mfcc's meta.json carries ingest's flag; train.json may repeat it.
    synthetic: set.meta.synthetic === true || trainInfo.synthetic === true,
    modelPath,
    features: set.features,
    frames: set.frames,
    coeffs: set.coefficients,
    index: set.index,
  };
}

/** Row numbers of the original (un-augmented) clips of each requested split that has any. */
export function heldOutRows(index: FeatureIndexRow[], splits: EvalSplit[]): Map<EvalSplit, number[]> {
  const bySplit = new Map<EvalSplit, number[]>();
  for (const split of splits) {
    const rows: number[] = [];
    index.forEach((r, i) => {
      if (r.split === split && isOriginal(r)) rows.push(i);
    });
    if (rows.length > 0) bySplit.set(split, rows);
  }
  return bySplit;
}


/** One line per scored clip: which clips, which speakers, how confident. */
export function predictionsCsv(up: Upstream, rowsBySplit: Map<EvalSplit, number[]>, predictions: Record<string, SplitPredictions>): string {
  const k = up.labels.length;
  const lines = ['split,source,speaker,label,predicted,confidence'];
  for (const [split, rows] of rowsBySplit) {
    const p = predictions[split]!.probabilities;
    const pred = argmaxRows(p, rows.length, k);
    rows.forEach((row, j) => {
      const r = up.index[row]!;
      const fields = [split, r.source, String(r.speaker ?? ''), r.label, up.labels[pred[j]!]!].map(csvField);
      lines.push([...fields, p[j * k + pred[j]!]!.toFixed(4)].join(','));
    });
  }
  return lines.join('\n') + '\n';
}

/** SVG (and PNG when fonts exist) of each confusion matrix and the training curves. */
export async function writePlots(
  outDir: string,
  evaluated: Record<string, SplitEvaluation>,
  up: Upstream,
  png: boolean,
  notes: string[],
  log: Logger,
): Promise<Record<string, string>> {
  const svgs: Record<string, string> = {};
  for (const [split, m] of Object.entries(evaluated)) {
    svgs[`confusion_${split}`] = await renderSvg(confusionSpec(m, `Confusion matrix — ${split} (n=${m.samples})`));
  }
  if (up.history.length > 0) svgs.curves = await renderSvg(curvesSpec(up.history, up.bestEpoch));
  else notes.push('train wrote no history.json rows: no training curves.');
  for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(outDir, `${name}.svg`), svg);
  if (png) {
    if (await pngFontsAvailable()) {
      for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(outDir, `${name}.png`), await svgToPng(svg));
    } else {
      const msg = 'no system fonts found for resvg: PNG plots skipped (SVG written)';
      notes.push(msg);
      log.warn(msg);
    }
  }
  return svgs;
}


/** Validation metrics unprefixed (the engine shows `accuracy`), test metrics as test_*. */
export function headlineMetrics(evaluated: Record<string, SplitEvaluation>): Record<string, number> {
  const metrics: Record<string, number> = {};
  const v = evaluated.validation;
  if (v) Object.assign(metrics, { accuracy: v.accuracy, uar: v.uar, macroF1: v.macroF1 });
  const t = evaluated.test;
  if (t) Object.assign(metrics, { test_accuracy: t.accuracy, test_uar: t.uar, test_macroF1: t.macroF1 });
  return metrics;
}

export function summaryLine(evaluated: Record<string, SplitEvaluation>, synthetic: boolean): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const line = Object.entries(evaluated)
    .map(([s, m]) => `${s}: accuracy ${pct(m.accuracy)}, UAR ${pct(m.uar)}, macro-F1 ${m.macroF1.toFixed(3)} (n=${m.samples})`)
    .join('; ');
  return synthetic ? `SYNTHETIC — ${line}` : line;
}
