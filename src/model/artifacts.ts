/**
 * The model directory, the train stage's output: model.onnx (inference graph with weights and
 * normaliser baked in), weights.bin + weights.json (flat float32 parameters and BN statistics
 * with their layout, to resume or fine-tune), normalizer.json, labels.json, history.json and
 * train.json (a summary). Owner of their writers and readers (evaluate, predict and the
 * classifier read them). frontend.json beside them belongs to audio/frontend.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmopipeError } from '../util/errors.js';
import { readJson, readOptionalJson } from '../util/json-file.js';
import type { Architecture } from './architecture.js';
import { buildEvalGraph, modelLayout, type ModelLayout, type Normalizer } from './model-graphs.js';
import type { Weights } from './train-session.js';

export interface WeightsManifest {
  format: 'emopipe-weights-1';
  architecture: Architecture;
  frames: number;
  coefficients: number;
  classes: number;
  /** Byte layout of weights.bin: float32 little endian, params first then state. */
  params: { name: string; shape: number[]; offset: number }[];
  state: { name: string; shape: number[]; offset: number }[];
  paramCount: number;
  statCount: number;
}

/**
 * The inference model: input [N, frames, coeffs] raw features → probabilities [N, classes].
 * Several weight sets (a checkpoint ensemble) give the mean of their probabilities.
 */
export function inferenceModel(layout: ModelLayout, weights: Weights | Weights[], normalizer: Normalizer): Uint8Array {
  return buildEvalGraph(layout, { weights, normalizer }).toModel('emopipe_classifier');
}

export function writeWeights(dir: string, layout: ModelLayout, weights: Weights): void {
  const bytes = new Uint8Array(4 * (layout.paramCount + layout.statCount));
  const view = new Float32Array(bytes.buffer);
  view.set(weights.params, 0);
  view.set(weights.state, layout.paramCount);
  writeFileSync(join(dir, 'weights.bin'), bytes);
  const manifest: WeightsManifest = {
    format: 'emopipe-weights-1',
    architecture: layout.arch,
    frames: layout.frames,
    coefficients: layout.coefficients,
    classes: layout.classes,
    params: layout.params.map((s) => ({ name: s.spec.name, shape: s.spec.shape, offset: s.offset })),
    state: layout.stats.map((s) => ({ name: s.spec.name, shape: s.spec.shape, offset: layout.paramCount + s.offset })),
    paramCount: layout.paramCount,
    statCount: layout.statCount,
  };
  writeFileSync(join(dir, 'weights.json'), JSON.stringify(manifest, null, 2) + '\n');
}

/** Reads weights written by writeWeights; checks they fit the given layout. */
export function readWeights(dir: string, layout?: ModelLayout): { layout: ModelLayout; weights: Weights } {
  const manifest = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as WeightsManifest;
  if (manifest.format !== 'emopipe-weights-1') throw new EmopipeError('E_MODEL', `${dir}/weights.json: unknown format`);
  const l = layout ?? modelLayout(manifest.architecture, manifest.frames, manifest.coefficients, manifest.classes);
  if (l.paramCount !== manifest.paramCount || l.statCount !== manifest.statCount) {
    throw new EmopipeError('E_MODEL', `${dir}/weights.json does not match the architecture (${manifest.paramCount} vs ${l.paramCount} parameters)`);
  }
  const buf = readFileSync(join(dir, 'weights.bin'));
  const all = new Float32Array(new Uint8Array(buf).buffer);
  if (all.length !== l.paramCount + l.statCount) throw new EmopipeError('E_MODEL', `${dir}/weights.bin has the wrong size`);
  return { layout: l, weights: { params: all.slice(0, l.paramCount), state: all.slice(l.paramCount) } };
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
}

export function normalizerJson(n: Normalizer): { mean: number[]; std: number[] } {
  return { mean: Array.from(n.mean), std: Array.from(n.std) };
}

export const MODEL_FILE = 'model.onnx';
export const MODEL_LABELS_FILE = 'labels.json';
export const HISTORY_FILE = 'history.json';
export const TRAIN_SUMMARY_FILE = 'train.json';

/**
 * The model, its weights, normaliser, labels and history (train.json and frontend.json are written
 * apart). With `ensemble`, model.onnx averages those weight sets while weights.bin keeps `weights`
 * (the best epoch, the one to fine-tune from).
 */
export function writeModelDir(
  dir: string,
  m: { layout: ModelLayout; weights: Weights; ensemble?: Weights[]; normalizer: Normalizer; labels: string[]; history: unknown[] },
): void {
  writeFileSync(join(dir, MODEL_FILE), inferenceModel(m.layout, m.ensemble ?? m.weights, m.normalizer));
  writeWeights(dir, m.layout, m.weights);
  writeJson(join(dir, 'normalizer.json'), normalizerJson(m.normalizer));
  writeJson(join(dir, MODEL_LABELS_FILE), m.labels);
  writeJson(join(dir, HISTORY_FILE), m.history);
}

/** train.json: the training summary (best epoch, rows, parameters, ...). */
export function writeTrainSummary(dir: string, summary: Record<string, unknown>): void {
  writeJson(join(dir, TRAIN_SUMMARY_FILE), summary);
}

/** Path of model.onnx in a model directory; a typed error naming it when it is missing. */
export function modelFile(dir: string): string {
  const path = join(dir, MODEL_FILE);
  if (!existsSync(path)) throw new EmopipeError('E_INPUT_MISSING', 'model.onnx not found', { file: path });
  return path;
}

/** labels.json: the class names in model output order (at least two). */
export function readModelLabels(dir: string): string[] {
  const labelsPath = join(dir, MODEL_LABELS_FILE);
  const labels = readJson<unknown>(labelsPath, "train's labels.json");
  if (!Array.isArray(labels) || labels.length < 2 || !labels.every((l) => typeof l === 'string')) {
    throw new EmopipeError('E_INPUT_MISSING', 'labels.json must be an array of at least two class names', { file: labelsPath });
  }
  return labels as string[];
}

/** history.json: one row per epoch; empty when the directory has none. */
export function readHistory<Row>(dir: string): Row[] {
  const historyPath = join(dir, HISTORY_FILE);
  const history = readOptionalJson<Row[]>(historyPath, "train's history.json") ?? [];
  if (!Array.isArray(history)) throw new EmopipeError('E_INPUT_MISSING', 'history.json must be an array of per-epoch rows', { file: historyPath });
  return history;
}

/** train.json, the training summary, when present. */
export function readTrainSummary(dir: string): unknown {
  return readOptionalJson<unknown>(join(dir, TRAIN_SUMMARY_FILE), "train's train.json");
}
