/** Feature standardisation, batching and dropout masks for the training loop. */
import type { Rng } from '../util/rng.js';
import type { Normalizer } from './model-graphs.js';

/** Per-coefficient mean and standard deviation over every frame of the given rows. */
export function fitNormalizer(features: Float32Array, rowSize: number, coefficients: number, rows: number[]): Normalizer {
  const sum = new Float64Array(coefficients);
  const sq = new Float64Array(coefficients);
  let count = 0;
  for (const r of rows) {
    const base = r * rowSize;
    for (let i = 0; i < rowSize; i += coefficients) {
      for (let c = 0; c < coefficients; c++) {
        const v = features[base + i + c]!;
        sum[c]! += v;
        sq[c]! += v * v;
      }
      count++;
    }
  }
  const mean = new Float32Array(coefficients);
  const std = new Float32Array(coefficients);
  for (let c = 0; c < coefficients; c++) {
    const m = count ? sum[c]! / count : 0;
    const variance = count ? Math.max(sq[c]! / count - m * m, 0) : 1;
    mean[c] = m;
    // A constant coefficient would divide by zero; leave it unscaled.
    std[c] = Math.sqrt(variance) > 1e-6 ? Math.sqrt(variance) : 1;
  }
  return { mean, std };
}

/** Copies `rows` of `features`, standardised, into one contiguous array. */
export function gatherStandardised(features: Float32Array, rowSize: number, norm: Normalizer, rows: number[]): Float32Array {
  const k = norm.mean.length;
  const out = new Float32Array(rows.length * rowSize);
  rows.forEach((r, j) => {
    const src = r * rowSize;
    const dst = j * rowSize;
    for (let i = 0; i < rowSize; i++) out[dst + i] = (features[src + i]! - norm.mean[i % k]!) / norm.std[i % k]!;
  });
  return out;
}

/**
 * Fills `out` with keep / (1 - rate) values. Uses 16 bits of the generator per element (two per
 * draw): the keep probability is then exact to 1.5e-5, and drawing is twice as cheap.
 */
export function fillDropoutMask(rng: Rng, out: Float32Array, rate: number): void {
  const threshold = Math.round(rate * 65536);
  const n = out.length;
  const bits = scratch(Math.ceil(n / 2));
  rng.fillUint32(bits);
  // Branch-free on the float's bit pattern: a random keep/drop branch mispredicts about a third
  // of the time, which cost more than drawing the bits.
  const keep = new Uint32Array(new Float32Array([1 / (1 - rate)]).buffer)[0]!;
  const words = new Uint32Array(out.buffer, out.byteOffset, n);
  const pairs = n >> 1;
  for (let j = 0; j < pairs; j++) {
    const u = bits[j]!;
    words[2 * j] = keep & ~(((u & 0xffff) - threshold) >> 31);
    words[2 * j + 1] = keep & ~(((u >>> 16) - threshold) >> 31);
  }
  if (n & 1) words[n - 1] = keep & ~(((bits[pairs]! & 0xffff) - threshold) >> 31);
}

let scratchBits = new Uint32Array(0);
/** A reused buffer for random bits (masks are drawn every step; allocation would dominate). */
function scratch(n: number): Uint32Array {
  if (scratchBits.length < n) scratchBits = new Uint32Array(n);
  return scratchBits.subarray(0, n);
}

export function argmax(v: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[offset + j]! > v[offset + best]!) best = j;
  return best;
}

/** Mean categorical cross-entropy (probabilities clipped like Keras) and accuracy. */
export function scoreProbabilities(probs: Float32Array, labels: ArrayLike<number>, classes: number): { loss: number; accuracy: number } {
  let loss = 0;
  let correct = 0;
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    const p = Math.min(Math.max(probs[i * classes + labels[i]!]!, 1e-7), 1 - 1e-7);
    loss -= Math.log(p);
    if (argmax(probs, i * classes, classes) === labels[i]) correct++;
  }
  return { loss: n ? loss / n : NaN, accuracy: n ? correct / n : NaN };
}

/** Unweighted average recall: the mean recall over the classes present in `labels` (as report/metrics.ts). */
export function unweightedAverageRecall(probs: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const support = new Array<number>(classes).fill(0);
  const hits = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    support[y]!++;
    if (argmax(probs, i * classes, classes) === y) hits[y]!++;
  }
  const recalls = support.flatMap((s, c) => (s > 0 ? [hits[c]! / s] : []));
  return recalls.length ? recalls.reduce((a, b) => a + b, 0) / recalls.length : NaN;
}

/**
 * Per-class loss weights n / (classes * n_c) (sklearn's "balanced"): every class contributes
 * equally to the expected loss. A class absent from training gets weight 0.
 */
export function balancedClassWeights(labels: ArrayLike<number>, classes: number): Float64Array {
  const counts = new Float64Array(classes);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  return counts.map((c) => (c > 0 ? labels.length / (classes * c) : 0));
}

/**
 * The target row of one sample: one-hot, smoothed to (1 - e) onehot + e / classes, times the
 * sample's class weight. The step graph's loss is -mean_i sum_k target_ik log p_ik, so this is
 * label smoothing and class weighting with no change to the graph.
 */
export function fillTarget(out: Float32Array, offset: number, label: number, classes: number, smoothing: number, weight: number): void {
  const off = (smoothing / classes) * weight;
  for (let k = 0; k < classes; k++) out[offset + k] = off;
  out[offset + label] = (1 - smoothing + smoothing / classes) * weight;
}
