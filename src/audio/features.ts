/**
 * The whole per-clip feature front end: optional silence trim → MFCC or log-mel → optional
 * deltas → optional per-utterance mean/variance normalisation → pad/truncate to a frame count.
 * Per-speaker normalisation (cmvn: speaker) needs several clips: callers that have them ask for
 * the clip's raw features (deferGroupNorm) and apply audio/group-norm.ts over the group; a lone
 * clip is normalised by the average training speaker's statistics (speakerStats), or by its own
 * when a front end has none.
 * The mfcc stage and `predict` both call utteranceFeatures, so a model always sees new audio
 * featurised exactly as its training data was. With every option at its default this is
 * mfccFrames unchanged (the seed's recipe, bit for bit).
 */
import { deltaFrames } from './deltas.js';
import { logMelSpectrogram, mfccFrames, resolveMfccOptions, type MfccOptions } from './mfcc.js';
import { trimSilence, type TrimOptions } from './trim.js';
import { normaliseWith, type FeatureStats } from './group-norm.js';

export type FeatureKind = 'mfcc' | 'logmel';
export type Cmvn = 'none' | 'utterance' | 'speaker';

export interface FeatureOptions {
  /** MFCCs (n_mfcc per frame) or the log-mel spectrogram in dB they are made from (n_mels per frame). Default mfcc. */
  features?: FeatureKind;
  /** 0: static features only; 1: + deltas; 2: + deltas and delta-deltas (librosa.feature.delta, width 9). Default 0. */
  deltas?: 0 | 1 | 2;
  /**
   * Mean/variance normalisation of every feature dimension: over the clip's frames (utterance)
   * or over all frames of the speaker's clips (speaker, see audio/group-norm.ts). Default none.
   */
  cmvn?: Cmvn;
  /** librosa.effects.trim before featurising; null/undefined keeps the clip whole. */
  trim?: TrimOptions | null;
  /** cmvn speaker, a clip featurised alone: the average training speaker's statistics (else its own). */
  speakerStats?: FeatureStats | null;
}

export const DELTA_WIDTH = 9;

/** Values per frame: static dimension times (1 + deltas). */
export function featureDims(mfcc: MfccOptions, f: FeatureOptions = {}): number {
  const r = resolveMfccOptions(mfcc);
  const base = (f.features ?? 'mfcc') === 'logmel' ? r.nMels : r.nMfcc;
  return base * (1 + (f.deltas ?? 0));
}

function isDefault(f: FeatureOptions): boolean {
  return (f.features ?? 'mfcc') === 'mfcc' && !f.deltas && (f.cmvn ?? 'none') === 'none' && !f.trim;
}

export interface FeatureResult {
  /** frames x dims, row-major: per frame [static | delta | delta-delta]. */
  data: Float32Array;
  frames: number;
  dims: number;
  /** Frames that come from the clip (the rest is zero padding); group statistics cover these. */
  valid: number;
}

/**
 * Features of one clip. `mfcc.frames` (when set) is the output frame count; deltas and the
 * utterance statistics are computed on the clip's own frames, before padding or truncation
 * (zero padding would otherwise show up as a spurious slope), and cover the frames kept.
 */
export function utteranceFeatures(
  y: Float32Array | Float64Array, mfcc: MfccOptions, f: FeatureOptions = {}, opts: { deferGroupNorm?: boolean } = {},
): FeatureResult {
  if (isDefault(f)) {
    const m = mfccFrames(y, mfcc);
    return { data: m.data, frames: m.frames, dims: m.nMfcc, valid: Math.min(m.frames, 1 + Math.floor(y.length / resolveMfccOptions(mfcc).hopLength)) };
  }
  const clip = f.trim ? trimSilence(y, f.trim) : y;
  const whole = { ...mfcc, frames: undefined };
  let statics: ArrayLike<number>;
  let count: number;
  let base: number;
  if ((f.features ?? 'mfcc') === 'logmel') {
    const lm = logMelSpectrogram(clip, whole);
    statics = lm.data;
    count = lm.frames;
    base = lm.nMels;
  } else {
    const m = mfccFrames(clip, whole);
    statics = m.data;
    count = m.frames;
    base = m.nMfcc;
  }
  const order = f.deltas ?? 0;
  const dims = base * (1 + order);
  const blocks: ArrayLike<number>[] = [statics];
  if (order >= 1) blocks.push(deltaFrames(statics, count, base, 1, DELTA_WIDTH));
  if (order >= 2) blocks.push(deltaFrames(statics, count, base, 2, DELTA_WIDTH));
  const frames = mfcc.frames ?? count;
  const keep = Math.min(frames, count);
  // float64 while normalising; one rounding to float32 at the end.
  const full = new Float64Array(keep * dims);
  for (let t = 0; t < keep; t++) {
    blocks.forEach((b, j) => {
      for (let d = 0; d < base; d++) full[t * dims + j * base + d] = b[t * base + d]!;
    });
  }
  if (f.cmvn === 'utterance') normaliseUtterance(full, keep, dims);
  else if (f.cmvn === 'speaker' && !opts.deferGroupNorm) {
    if (f.speakerStats) normaliseWith({ data: full, frames: keep, dims, valid: [keep] }, f.speakerStats);
    else normaliseUtterance(full, keep, dims);
  }
  const data = new Float32Array(frames * dims);
  data.set(full);
  return { data, frames, dims, valid: keep };
}

/** (x - mean) / std per dimension over `frames` rows, in place; a constant dimension becomes 0. */
export function normaliseUtterance(x: Float64Array, frames: number, dims: number): void {
  if (frames === 0) return;
  for (let d = 0; d < dims; d++) {
    let sum = 0;
    for (let t = 0; t < frames; t++) sum += x[t * dims + d]!;
    const mean = sum / frames;
    let sq = 0;
    for (let t = 0; t < frames; t++) {
      const v = x[t * dims + d]! - mean;
      sq += v * v;
    }
    const std = Math.sqrt(sq / frames);
    // As the training normaliser: a (near-)constant dimension is centred, not scaled up.
    const scale = std > 1e-6 ? 1 / std : 1;
    for (let t = 0; t < frames; t++) x[t * dims + d] = (x[t * dims + d]! - mean) * scale;
  }
}
