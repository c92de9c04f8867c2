/**
 * The evaluate stage: its params, its run (read train's and mfcc's outputs, predict the held-out
 * rows, write metrics.json, classification_report.txt, predictions.csv, the plots and
 * report.html) and its kind, bound to the ONNX runtime. Tests call runEvaluation with stand-in
 * classifiers. The pure report pieces live in src/report/.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { INDEX_FILE, isOriginal } from '../corpus/features-set.js';
import { loadClassifier } from '../model/infer.js';
import {
  headlineMetrics, heldOutRows, predictionsCsv, readUpstream, strictJson, summaryLine, writePlots,
  type EvalSplit, type Upstream,
} from '../report/evaluation.js';
import { renderReportHtml, type ReportSplit } from '../report/html.js';
import { evaluateSplits, formatClassificationReport, type SplitPredictions } from '../report/metrics.js';
import { EmopipeError } from '../util/errors.js';
import { Enum, Params, Type, type Static } from './params.js';

export const evaluateParamsSchema = Params({
  splits: Type.Array(Enum(['validation', 'test'] satisfies EvalSplit[], { type: 'string' }), {
    minItems: 1,
    uniqueItems: true,
    default: ['validation', 'test'],
    description: 'Splits to score; a split with no rows (e.g. test under a random split) is skipped.',
  }),
  batch_size: Type.Integer({
    minimum: 1,
    maximum: 65536,
    default: 256,
    description: 'Rows per inference call: memory vs. call overhead. Kept in the fingerprint because batched kernels may round differently.',
  }),
  plots: Type.Boolean({ default: true, description: 'Render the confusion heatmaps and training curves (SVG) into the report.' }),
  png: Type.Boolean({ default: true, description: 'Also write PNG copies of the plots (needs system fonts; skipped with a warning otherwise).' }),
});

export type EvaluateParams = Static<typeof evaluateParamsSchema>;

/** What evaluate needs from a trained model: class probabilities for a batch of feature rows. */
export interface Classifier {
  /** x: n rows of [frames, n_mfcc] float32, row-major; returns n × classes probabilities. */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}
export type ClassifierLoader = (modelPath: string, opts?: { threads?: number }) => Promise<Classifier>;

/** Class probabilities for every held-out row, batch by batch, with progress and Ctrl-C. */
async function predictRows(
  ctx: StageContext<EvaluateParams>,
  up: Upstream,
  rowsBySplit: Map<EvalSplit, number[]>,
  loadClassifier: ClassifierLoader,
): Promise<Record<string, SplitPredictions>> {
  const k = up.labels.length;
  const rowSize = up.frames * up.coeffs;
  const classOf = new Map(up.labels.map((l, i) => [l, i]));
  const predictions: Record<string, SplitPredictions> = {};
  const classifier = await loadClassifier(up.modelPath, { threads: 1 });
  try {
    ctx.progress.start([...rowsBySplit.values()].reduce((a, rows) => a + rows.length, 0), 'samples', 'inference');
    for (const [split, rows] of rowsBySplit) {
      const yTrue = Int32Array.from(rows, (row) => {
        const r = up.index[row]!;
        const c = classOf.get(r.label);
        if (c === undefined) {
          throw new EmopipeError('E_MODEL', `row ${row} (${r.source}) has label "${r.label}", which the model was not trained on (${up.labels.join(', ')})`);
        }
        return c;
      });
      const speakers = rows.map((row) => String(up.index[row]!.speaker ?? ''));
      const probabilities = new Float32Array(rows.length * k);
      for (let start = 0; start < rows.length; start += ctx.params.batch_size) {
        if (ctx.signal.aborted) throw new EmopipeError('E_INTERRUPTED', 'evaluation interrupted');
        const batch = rows.slice(start, start + ctx.params.batch_size);
        const x = new Float32Array(batch.length * rowSize);
        batch.forEach((row, j) => x.set(up.features.subarray(row * rowSize, (row + 1) * rowSize), j * rowSize));
        const p = await classifier.predict(x, batch.length);
        if (p.length !== batch.length * k) {
          throw new EmopipeError('E_MODEL', `model returned ${p.length} values for ${batch.length} rows; expected ${batch.length} × ${k} classes`, { file: up.modelPath });
        }
        probabilities.set(p, start * k);
        ctx.progress.tick(batch.length, { split });
      }
      predictions[split] = { probabilities, yTrue, speakers: speakers.every((s) => s !== '') ? speakers : undefined };
    }
    ctx.progress.done();
  } finally {
    await classifier.close();
  }
  return predictions;
}

export async function runEvaluation(ctx: StageContext<EvaluateParams>, loadClassifier: ClassifierLoader): Promise<StageResult> {
  const { params, log, outDir } = ctx;
  const up = readUpstream(ctx.input('train').dir, ctx.input('mfcc').dir);
  const rowsBySplit = heldOutRows(up.index, params.splits);
  if (params.splits.includes('validation') && !rowsBySplit.has('validation')) log.warn('no validation rows in the mfcc index: validation not evaluated');
  if (rowsBySplit.size === 0) {
    throw new EmopipeError('E_INPUT_MISSING', `no un-augmented rows for split(s) ${params.splits.join(', ')} in mfcc's index.json`, { file: join(ctx.input('mfcc').dir, INDEX_FILE) });
  }

  const predictions = await predictRows(ctx, up, rowsBySplit, loadClassifier);
  const evaluated = evaluateSplits(predictions, up.labels);
  writeFileSync(join(outDir, 'predictions.csv'), predictionsCsv(up, rowsBySplit, predictions));

  const counts: Record<string, number> = {};
  for (const r of up.index) if (isOriginal(r)) counts[r.split] = (counts[r.split] ?? 0) + 1;
  const augmented = up.index.filter((r) => !isOriginal(r)).length;
  const dataset = { rows: up.index.length, frames: up.frames, n_mfcc: up.coeffs, classes: up.labels.length, original_rows_per_split: counts, augmented_rows: augmented };
  const model = { ...up.trainInfo, model_bytes: statSync(up.modelPath).size };
  writeFileSync(join(outDir, 'metrics.json'), strictJson({ ...evaluated, synthetic: up.synthetic, dataset, model }));

  const reports: Record<string, string> = {};
  let reportText = up.synthetic ? 'SYNTHETIC DATA — not a real result\n\n' : '';
  for (const [split, m] of Object.entries(evaluated)) {
    reports[split] = formatClassificationReport(m, 3);
    reportText += `== ${split} (${m.samples} samples) ==\n${reports[split]}\n`;
  }
  writeFileSync(join(outDir, 'classification_report.txt'), reportText);
  for (const line of reportText.trimEnd().split('\n')) log.info(line);

  const notes: string[] = [];
  const svgs = params.plots ? await writePlots(outDir, evaluated, up, params.png, notes, log) : {};
  const splits: ReportSplit[] = Object.entries(evaluated).map(([name, metrics]) => ({
    name,
    metrics,
    confusionSvg: svgs[`confusion_${name}`],
    classificationReport: reports[name],
  }));
  const runInfo: [string, string | number | boolean | null][] = [
    ['stage', ctx.stageName],
    ['synthetic data', up.synthetic],
    ['classes', up.labels.join(', ')],
    ['features', `${up.index.length} rows × ${up.frames} frames × ${up.coeffs} MFCCs (${augmented} augmented)`],
    ...Object.entries(counts).map(([s, n]): [string, number] => [`original clips: ${s}`, n]),
    ...Object.entries(model).map(([key, v]): [string, string | number | boolean | null] => [`model: ${key}`, v]),
  ];
  const title = `emopipe evaluation — ${ctx.stageName}`;
  writeFileSync(join(outDir, 'report.html'), renderReportHtml({ title, synthetic: up.synthetic, runInfo, splits, curvesSvg: svgs.curves, notes }));

  return { metrics: headlineMetrics(evaluated), summary: summaryLine(evaluated, up.synthetic), report: 'report.html' };
}

/**
 * evaluate: run the trained model on the held-out clips (validation, and test when the split
 * has one; augmented copies excluded) and write metrics.json, classification_report.txt,
 * predictions.csv, confusion/curve plots (SVG, PNG) and a self-contained report.html.
 */
export const evaluateKind: StageKind<EvaluateParams> = {
  kind: 'evaluate',
  description: 'Score the trained model on validation/test clips: metrics.json, plots and a self-contained report.html',
  module: import.meta.url,
  inputs: [
    { kind: 'train', description: 'model.onnx, labels.json, history.json, train.json' },
    { kind: 'mfcc', description: 'features.npy and index.json (rows with split validation/test and augmentation null are scored)' },
  ],
  paramsSchema: evaluateParamsSchema,
  run: (ctx) => runEvaluation(ctx, loadClassifier),
};
