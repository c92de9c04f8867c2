/**
 * The evaluate stage's work, independent of which classifier runs the model: read train's and
 * mfcc's outputs, predict the held-out rows, compute metrics and write metrics.json,
 * classification_report.txt, predictions.csv, the plots and report.html.
 * The stage module (src/stages/evaluate.ts) binds it to the ONNX runtime; tests bind it to
 * stand-in classifiers.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext, StageResult } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';
import { readNpy } from '../util/npy.js';
import { renderReportHtml, type ReportSplit } from './html.js';
import { argmaxRows, evaluateSplits, formatClassificationReport, type SplitEvaluation, type SplitPredictions } from './metrics.js';
import { confusionSpec, curvesSpec, pngFontsAvailable, renderSvg, svgToPng, type HistoryRow } from './plots.js';

export type EvalSplit = 'validation' | 'test';

export interface EvaluateParams {
  splits: EvalSplit[];
  batch_size: number;
  plots: boolean;
  png: boolean;
}

/** What evaluate needs from a trained model: class probabilities for a batch of feature rows. */
export interface Classifier {
  /** x: n rows of [frames, n_mfcc] float32, row-major; returns n × classes probabilities. */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}
export type ClassifierLoader = (modelPath: string, opts?: { threads?: number }) => Promise<Classifier>;

/** One row of mfcc's index.json (contract in DESIGN.md). */
interface IndexRow {
  source: string;
  label: string;
  speaker?: string;
  split: string;
  augmentation: unknown;
}

function readJson<T>(path: string, what: string): T {
  if (!existsSync(path)) throw new EmopipeError('E_INPUT_MISSING', `${what} not found`, { file: path });
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', `${what} is not valid JSON: ${(e as Error).message}`, { file: path, cause: e });
  }
}

function readOptionalJson<T>(path: string, what: string): T | undefined {
  return existsSync(path) ? readJson<T>(path, what) : undefined;
}

/** JSON that refuses NaN/Infinity instead of silently writing null. */
function strictJson(value: unknown): string {
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

interface Upstream {
  labels: string[];
  history: HistoryRow[];
  trainInfo: Record<string, string | number | boolean | null>;
  bestEpoch?: number;
  synthetic: boolean;
  modelPath: string;
  features: Float32Array;
  frames: number;
  coeffs: number;
  index: IndexRow[];
}

/** Read and check train's and mfcc's outputs; every problem is a typed error naming the file. */
function readUpstream(trainDir: string, mfccDir: string): Upstream {
  const labelsPath = join(trainDir, 'labels.json');
  const labels = readJson<unknown>(labelsPath, "train's labels.json");
  if (!Array.isArray(labels) || labels.length < 2 || !labels.every((l) => typeof l === 'string')) {
    throw new EmopipeError('E_INPUT_MISSING', 'labels.json must be an array of at least two class names', { file: labelsPath });
  }
  const historyPath = join(trainDir, 'history.json');
  const history = readOptionalJson<HistoryRow[]>(historyPath, "train's history.json") ?? [];
  if (!Array.isArray(history)) throw new EmopipeError('E_INPUT_MISSING', 'history.json must be an array of per-epoch rows', { file: historyPath });
  const trainInfo = scalarFields(readOptionalJson<unknown>(join(trainDir, 'train.json'), "train's train.json"));
  // The mfcc stage marks features computed from generated audio (ingest format synth) in meta.json.
  const meta = readOptionalJson<{ synthetic?: unknown }>(join(mfccDir, 'meta.json'), "mfcc's meta.json");

  const modelPath = join(trainDir, 'model.onnx');
  if (!existsSync(modelPath)) throw new EmopipeError('E_INPUT_MISSING', 'model.onnx not found', { file: modelPath });
  const featuresPath = join(mfccDir, 'features.npy');
  if (!existsSync(featuresPath)) throw new EmopipeError('E_INPUT_MISSING', 'features.npy not found', { file: featuresPath });
  const features = readNpy(featuresPath);
  if (features.dtype !== 'float32' || features.shape.length !== 3) {
    throw new EmopipeError('E_INPUT_MISSING', `features.npy must be float32 [N, frames, n_mfcc], got ${features.dtype} [${features.shape}]`, { file: featuresPath });
  }
  const [total, frames, coeffs] = features.shape as [number, number, number];
  const indexPath = join(mfccDir, 'index.json');
  const index = readJson<IndexRow[]>(indexPath, "mfcc's index.json");
  if (!Array.isArray(index) || index.length !== total) {
    throw new EmopipeError('E_INPUT_MISSING', `index.json has ${Array.isArray(index) ? index.length : 'no'} rows but features.npy has ${total}`, { file: indexPath });
  }
  return {
    labels: labels as string[],
    history,
    trainInfo,
    bestEpoch: typeof trainInfo.best_epoch === 'number' ? trainInfo.best_epoch : undefined,
    // mfcc's meta.json carries ingest's flag; train.json may repeat it.
    synthetic: meta?.synthetic === true || trainInfo.synthetic === true,
    modelPath,
    features: features.data,
    frames,
    coeffs,
    index,
  };
}

const isOriginal = (r: IndexRow) => r.augmentation === null || r.augmentation === undefined;

/** Row numbers of the original (un-augmented) clips of each requested split that has any. */
function heldOutRows(index: IndexRow[], splits: EvalSplit[]): Map<EvalSplit, number[]> {
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

/** One line per scored clip: which clips, which speakers, how confident. */
function predictionsCsv(up: Upstream, rowsBySplit: Map<EvalSplit, number[]>, predictions: Record<string, SplitPredictions>): string {
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
async function writePlots(
  outDir: string,
  evaluated: Record<string, SplitEvaluation>,
  up: Upstream,
  png: boolean,
  notes: string[],
  log: StageContext<EvaluateParams>['log'],
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

export async function runEvaluation(ctx: StageContext<EvaluateParams>, loadClassifier: ClassifierLoader): Promise<StageResult> {
  const { params, log, outDir } = ctx;
  const up = readUpstream(ctx.input('train').dir, ctx.input('mfcc').dir);
  const rowsBySplit = heldOutRows(up.index, params.splits);
  if (params.splits.includes('validation') && !rowsBySplit.has('validation')) log.warn('no validation rows in the mfcc index: validation not evaluated');
  if (rowsBySplit.size === 0) {
    throw new EmopipeError('E_INPUT_MISSING', `no un-augmented rows for split(s) ${params.splits.join(', ')} in mfcc's index.json`, { file: join(ctx.input('mfcc').dir, 'index.json') });
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

/** Validation metrics unprefixed (the engine shows `accuracy`), test metrics as test_*. */
function headlineMetrics(evaluated: Record<string, SplitEvaluation>): Record<string, number> {
  const metrics: Record<string, number> = {};
  const v = evaluated.validation;
  if (v) Object.assign(metrics, { accuracy: v.accuracy, uar: v.uar, macroF1: v.macroF1 });
  const t = evaluated.test;
  if (t) Object.assign(metrics, { test_accuracy: t.accuracy, test_uar: t.uar, test_macroF1: t.macroF1 });
  return metrics;
}

function summaryLine(evaluated: Record<string, SplitEvaluation>, synthetic: boolean): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const line = Object.entries(evaluated)
    .map(([s, m]) => `${s}: accuracy ${pct(m.accuracy)}, UAR ${pct(m.uar)}, macro-F1 ${m.macroF1.toFixed(3)} (n=${m.samples})`)
    .join('; ');
  return synthetic ? `SYNTHETIC — ${line}` : line;
}
