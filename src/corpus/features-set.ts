/**
 * The features set, the mfcc stage's output (contract in DESIGN.md): features.npy float32
 * [N, frames, n_mfcc], labels.npy int32 [N], index.json (one row per feature row), labels.json
 * (class names in model output order) and meta.json (front end, synthetic flag, counts).
 * Owner of its types, its writer and its readers (train and evaluate read it).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrontendConfig } from '../audio/frontend.js';
import { EmopipeError } from '../util/errors.js';
import { readJson, readOptionalJson } from '../util/json-file.js';
import { readNpy, writeNpy } from '../util/npy.js';
import type { SplitName } from './split-file.js';

/** One row of index.json: where feature row i came from. */
export interface FeatureIndexRow {
  source: string;
  label: string;
  speaker: string;
  split: SplitName;
  augmentation: Record<string, unknown> | null;
}

export const FEATURES_FILE = 'features.npy';
export const LABEL_IDS_FILE = 'labels.npy';
export const INDEX_FILE = 'index.json';
export const LABELS_FILE = 'labels.json';
export const META_FILE = 'meta.json';

export interface FeaturesMeta {
  /** Features computed from generated audio (ingest format synth). */
  synthetic: boolean;
  frontend: FrontendConfig;
  labels: string[];
  /** Rows per split, augmented copies counted as `<split>_augmented`. */
  counts: Record<string, number>;
  /** Clips left out because their audio or features were not finite (absent when none). */
  left_out?: { source: string; augmentation: Record<string, unknown> | null; error: string }[];
}

export interface FeatureSet {
  /** Row-major [rows, frames, coefficients]. */
  features: Float32Array;
  rows: number;
  frames: number;
  coefficients: number;
  index: FeatureIndexRow[];
  /** meta.json when present (hand-made sets may omit it or some of its keys). */
  meta: Partial<FeaturesMeta>;
}

/** An original clip, not an augmented copy. */
export const isOriginal = (r: Pick<FeatureIndexRow, 'augmentation'>) => r.augmentation === null || r.augmentation === undefined;

/** Rows per split, augmented copies counted as `<split>_augmented` (meta.json's `counts`). */
export function countRows(index: FeatureIndexRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of index) {
    const key = r.augmentation ? `${r.split}_augmented` : r.split;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Writes every file of a features set into the mfcc stage's output directory. */
export async function writeFeatureSet(
  dir: string,
  set: { features: Float32Array; frames: number; coefficients: number; labelIds: Int32Array; index: FeatureIndexRow[]; labels: string[]; synthetic: boolean; frontend: FrontendConfig; leftOut?: FeaturesMeta['left_out'] },
): Promise<Record<string, number>> {
  const n = set.index.length;
  writeNpy(join(dir, FEATURES_FILE), { dtype: 'float32', shape: [n, set.frames, set.coefficients], data: set.features });
  writeNpy(join(dir, LABEL_IDS_FILE), { dtype: 'int32', shape: [n], data: set.labelIds });
  await writeFile(join(dir, INDEX_FILE), JSON.stringify(set.index) + '\n');
  await writeFile(join(dir, LABELS_FILE), JSON.stringify(set.labels) + '\n');
  const counts = countRows(set.index);
  const meta: FeaturesMeta = { synthetic: set.synthetic, frontend: set.frontend, labels: set.labels, counts, ...(set.leftOut?.length ? { left_out: set.leftOut } : {}) };
  await writeFile(join(dir, META_FILE), JSON.stringify(meta, null, 1) + '\n');
  return counts;
}

/** features.npy, index.json and (optional) meta.json of a features set, checked against each other. */
export function readFeatureSet(dir: string): FeatureSet {
  const featuresPath = join(dir, FEATURES_FILE);
  if (!existsSync(featuresPath)) throw new EmopipeError('E_INPUT_MISSING', 'features.npy not found', { file: featuresPath });
  const features = readNpy(featuresPath);
  if (features.dtype !== 'float32' || features.shape.length !== 3) {
    throw new EmopipeError('E_INPUT_MISSING', `features.npy must be float32 [N, frames, n_mfcc], got ${features.dtype} [${features.shape}]`, { file: featuresPath });
  }
  const [rows, frames, coefficients] = features.shape as [number, number, number];
  const indexPath = join(dir, INDEX_FILE);
  const index = readJson<FeatureIndexRow[]>(indexPath, "mfcc's index.json");
  if (!Array.isArray(index) || index.length !== rows) {
    throw new EmopipeError('E_INPUT_MISSING', `index.json has ${Array.isArray(index) ? index.length : 'no'} rows but features.npy has ${rows}`, { file: indexPath });
  }
  const meta = readOptionalJson<Partial<FeaturesMeta>>(join(dir, META_FILE), "mfcc's meta.json");
  return { features: features.data as Float32Array, rows, frames, coefficients, index, meta: meta ?? {} };
}

/**
 * labels.npy as class ids, with the class names of labels.json (or, when absent, the sorted
 * labels of index.json); every id must name the label index.json gives its row.
 */
export function readLabelIds(dir: string, index: FeatureIndexRow[]): { labelIds: Int32Array; labels: string[] } {
  const idsPath = join(dir, LABEL_IDS_FILE);
  if (!existsSync(idsPath)) throw new EmopipeError('E_INPUT_MISSING', 'labels.npy not found', { file: idsPath });
  const ids = readNpy(idsPath);
  if (ids.data.length !== index.length) {
    throw new EmopipeError('E_INPUT_MISSING', `labels.npy has ${ids.data.length} rows but index.json has ${index.length}`, { file: idsPath });
  }
  const labelsPath = join(dir, LABELS_FILE);
  const labels = existsSync(labelsPath) ? readJson<string[]>(labelsPath, "mfcc's labels.json") : [...new Set(index.map((r) => r.label))].sort();
  const labelIds = Int32Array.from(ids.data as ArrayLike<number>);
  labelIds.forEach((l, i) => {
    if (l < 0 || l >= labels.length || labels[l] !== index[i]!.label) {
      throw new EmopipeError('E_INPUT_MISSING', `row ${i} has label index ${l} but index.json says "${index[i]!.label}"`, { file: idsPath });
    }
  });
  return { labelIds, labels };
}
