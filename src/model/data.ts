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
  const keep = 1 / (1 - rate);
  const n = out.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const u = rng.nextUint32();
    out[i] = (u & 0xffff) >= threshold ? keep : 0;
    out[i + 1] = u >>> 16 >= threshold ? keep : 0;
  }
  if (i < n) out[i] = (rng.nextUint32() & 0xffff) >= threshold ? keep : 0;
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
