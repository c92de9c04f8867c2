/**
 * Data augmentation on mono clips, as the reference Keras projects and librosa do it:
 * additive Gaussian noise scaled to the clip's peak, librosa.effects.time_stretch,
 * librosa.effects.pitch_shift and a speed change by resampling. Pure functions: typed arrays
 * in and out, randomness only through the generator passed in.
 */
import { resample } from './resample.js';
import { timeStretchSignal } from './stft.js';

/** The random source augmentation needs (src/util/rng.ts's Rng fits). */
export interface AugmentRng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  normal(): number;
}

/**
 * One concrete transform; the augment stage draws the parameters and records the spec.
 * Noise keeps the reference's own randomness: level amount * U(0,1), drawn from the rng
 * (whose seed the stage records), times the clip's peak.
 */
export type AugmentSpec =
  | { type: 'noise'; amount: number }
  | { type: 'pitch'; semitones: number }
  | { type: 'stretch'; rate: number }
  | { type: 'speed'; factor: number };

/** Reference default: noise_amp = 0.035 * U(0, 1) * peak. */
export const DEFAULT_NOISE_AMOUNT = 0.035;

/**
 * The clip's peak, max |y|. (The Keras reference writes np.amax(y), the largest value, which
 * equals max |y| unless the clip's largest excursion is negative.)
 */
function peak(y: Float32Array): number {
  let m = 0;
  for (let i = 0; i < y.length; i++) m = Math.max(m, Math.abs(y[i]!));
  return m;
}

/**
 * y + level * max|y| * N(0, 1) per sample: noise at a fixed level relative to the clip's peak.
 * Draws exactly y.length normals from `rng`.
 */
export function addNoiseAtLevel(y: Float32Array, rng: AugmentRng, level: number): Float32Array {
  const amp = level * peak(y);
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]! + amp * rng.normal();
  return out;
}

/**
 * The reference noise augmentation: noise_amp = amount * U(0,1) * max|y|;
 * y + noise_amp * N(0, 1). Draws one uniform, then y.length normals.
 */
export function addNoise(y: Float32Array, rng: AugmentRng, amount = DEFAULT_NOISE_AMOUNT): Float32Array {
  return addNoiseAtLevel(y, rng, amount * rng.next());
}

/** librosa.effects.time_stretch(y, rate): rate > 1 is faster (shorter), pitch unchanged. */
export function timeStretch(y: Float32Array, rate: number): Float32Array {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`time stretch rate must be positive (got ${rate})`);
  const length = Math.round(y.length / rate);
  if (y.length === 0) return new Float32Array(0);
  return timeStretchSignal(y, rate, length);
}

/**
 * librosa.effects.pitch_shift(y, sr=sr, n_steps=semitones): time-stretch by 2^(-n/12), resample
 * from sr/rate back to sr (soxr HQ), then fix the length to len(y).
 */
export function pitchShift(y: Float32Array, sr: number, semitones: number): Float32Array {
  if (!Number.isFinite(semitones)) throw new RangeError(`pitch shift must be finite (got ${semitones})`);
  if (semitones === 0) return Float32Array.from(y);
  const rate = Math.pow(2, -semitones / 12);
  // The stretched signal is only an intermediate: it lives in this thread's scratch.
  const n = Math.round(y.length / rate);
  if (stretchScratch.length < n) stretchScratch = new Float32Array(Math.ceil(n * 1.25));
  const stretched = y.length === 0 ? new Float32Array(0) : timeStretchSignal(y, rate, n, { out: stretchScratch.subarray(0, n) });
  return resample(stretched, sr / rate, sr, y.length);
}

let stretchScratch = new Float32Array(0);

/**
 * Speed change by resampling (tempo and pitch together), as
 * librosa.resample(y, orig_sr=sr*factor, target_sr=sr): factor 1.1 plays 10% faster.
 * Only the ratio matters; `sr` is there so the rates (and rounding) are librosa's.
 */
export function speedChange(y: Float32Array, factor: number, sr = 22050): Float32Array {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`speed factor must be positive (got ${factor})`);
  if (factor === 1) return Float32Array.from(y);
  return resample(y, sr * factor, sr);
}

/** Applies one augmentation spec; `rng` is used by noise only (one uniform, then a normal per sample). */
export function applyAugmentation(y: Float32Array, sr: number, spec: AugmentSpec, rng: AugmentRng): Float32Array {
  switch (spec.type) {
    case 'noise':
      return addNoise(y, rng, spec.amount);
    case 'pitch':
      return pitchShift(y, sr, spec.semitones);
    case 'stretch':
      return timeStretch(y, spec.rate);
    case 'speed':
      return speedChange(y, spec.factor, sr);
    default: {
      const never: never = spec;
      throw new Error(`unknown augmentation ${JSON.stringify(never)}`);
    }
  }
}
