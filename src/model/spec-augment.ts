/**
 * SpecAugment's time and frequency masks (Park et al. 2019, without time warping) on one
 * standardised feature matrix [frames, coefficients]: masked cells are set to 0, the training
 * mean after standardisation. Applied to training batches only, drawn from the caller's seeded
 * Rng, so a run is reproducible and every epoch sees fresh masks.
 */
import type { Rng } from '../util/rng.js';

export interface SpecAugmentOptions {
  /** Frequency (coefficient-axis) masks per sample. */
  freqMasks: number;
  /** Largest frequency mask width; each width is drawn uniformly from 0..freqWidth. */
  freqWidth: number;
  /** Time (frame-axis) masks per sample. */
  timeMasks: number;
  /** Largest time mask width in frames; each width is drawn uniformly from 0..timeWidth. */
  timeWidth: number;
  /**
   * The coefficient axis holds this many equal blocks (static features, deltas, delta-deltas):
   * a frequency mask hides the same band in each block. Default 1.
   */
  blocks?: number;
}

export function specAugmentActive(o: SpecAugmentOptions | undefined): o is SpecAugmentOptions {
  return !!o && ((o.freqMasks > 0 && o.freqWidth > 0) || (o.timeMasks > 0 && o.timeWidth > 0));
}

/** Masks x[0 .. frames*coefficients) in place; draws 2 numbers per mask (width, then start). */
export function applySpecAugment(x: Float32Array, frames: number, coefficients: number, o: SpecAugmentOptions, rng: Rng): void {
  const blocks = o.blocks && o.blocks > 1 && coefficients % o.blocks === 0 ? o.blocks : 1;
  const band = coefficients / blocks;
  for (let m = 0; m < o.freqMasks; m++) {
    const w = Math.min(rng.int(o.freqWidth + 1), band);
    const f0 = rng.int(band - w + 1);
    for (let t = 0; t < frames; t++) {
      for (let b = 0; b < blocks; b++) x.fill(0, t * coefficients + b * band + f0, t * coefficients + b * band + f0 + w);
    }
  }
  for (let m = 0; m < o.timeMasks; m++) {
    const w = Math.min(rng.int(o.timeWidth + 1), frames);
    const t0 = rng.int(frames - w + 1);
    x.fill(0, t0 * coefficients, (t0 + w) * coefficients);
  }
}
