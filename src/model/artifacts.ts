/**
 * The train stage's files: model.onnx (inference graph with weights and normaliser baked in),
 * weights.bin + weights.json (flat float32 parameters and BN statistics with their layout, to
 * resume or fine-tune), normalizer.json, labels.json, history.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmopipeError } from '../util/errors.js';
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

/** The inference model: input [N, frames, coeffs] raw features → probabilities [N, classes]. */
export function inferenceModel(layout: ModelLayout, weights: Weights, normalizer: Normalizer): Uint8Array {
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
