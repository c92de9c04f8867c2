/** Synthetic, linearly separable MFCC-like data and a tiny architecture, for tests and smoke runs. */
import { Rng } from '../../src/util/rng.js';
import type { Architecture } from '../../src/model/architecture.js';

export const TINY_ARCHITECTURE: Architecture = {
  conv_blocks: [{ filters: 4, kernel: 3, dropout: 0.1 }],
  pool: 2,
  lstm_units: 8,
  dropout: 0.2,
  bn_epsilon: 1e-3,
  bn_momentum: 0.9,
};

/** Row i has class i % classes; class k lifts coefficients 2k and 2k+1 in every frame, plus unit noise. */
export function syntheticFeatures(n: number, frames: number, coeffs: number, classes: number, seed: string) {
  const rng = new Rng(seed);
  const features = new Float32Array(n * frames * coeffs);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    for (let f = 0; f < frames; f++) {
      for (let c = 0; c < coeffs; c++) {
        features[(i * frames + f) * coeffs + c] = rng.normal() + (c >> 1 === k ? 1.5 : 0) + 3;
      }
    }
  }
  return { features, labels };
}
