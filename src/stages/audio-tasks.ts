/**
 * Per-file work of the audio stages, run in worker threads by src/util/pool.ts. Each function
 * takes a plain, cloneable task and returns typed arrays (transferred back, not copied).
 */
import { decodeMono } from '../audio/frontend.js';
import type { MfccOptions } from '../audio/mfcc.js';
import { utteranceFeatures, type FeatureOptions } from '../audio/features.js';
import { applyAugmentation, type AugmentSpec } from '../audio/augment.js';
import { assertFinite } from '../audio/finite.js';
import { MAX_RESAMPLE_SAMPLES, resample, resampledLength } from '../audio/resample.js';
import { EmopipeError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { readClipSamples } from './clip-store.js';

export interface LoadTask {
  file: string;
  rate: number;
}
export interface LoadResult {
  y: Float32Array;
  originalRate: number;
  channels: number;
}

/**
 * Longest clip the audio stages take (seconds). Emotion corpora hold utterances of seconds; the
 * limit bounds the work and memory one file can demand (its header is checked before decoding).
 */
export const MAX_CLIP_SECONDS = 600;

/**
 * librosa.load(file, sr=rate): decode, mono mean, soxr-HQ-equivalent resampling. A file too long,
 * or one whose resampled audio would not be finite, is an error naming it (the stage leaves it out).
 */
export function loadTask(task: LoadTask): LoadResult {
  const a = decodeMono(task.file, { maxDurationS: MAX_CLIP_SECONDS });
  let y = a.y;
  if (a.originalRate !== task.rate) {
    const n = resampledLength(y.length, a.originalRate, task.rate);
    if (n > MAX_RESAMPLE_SAMPLES) {
      throw new EmopipeError('E_WAV_UNSUPPORTED', `${y.length} samples at ${a.originalRate} Hz would resample to ${n} samples at ${task.rate} Hz; the limit is ${MAX_RESAMPLE_SAMPLES}`, { file: task.file });
    }
    y = resample(y, a.originalRate, task.rate);
  }
  assertFinite(y, `resampled audio (${a.originalRate} Hz -> ${task.rate} Hz)`, task.file);
  return { y, originalRate: a.originalRate, channels: a.channels };
}

export interface AugmentTask {
  audioFile: string;
  offset: number;
  length: number;
  sampleRate: number;
  spec: AugmentSpec;
  /** Seed of this copy's own generator, so the result does not depend on scheduling. */
  seed: string;
}

export function augmentTask(task: AugmentTask): { y: Float32Array } {
  const y = readClipSamples(task.audioFile, task.offset, task.length);
  assertFinite(y, 'input audio');
  const out = applyAugmentation(y, task.sampleRate, task.spec, new Rng(task.seed));
  assertFinite(out, `${task.spec.type} augmentation`);
  return { y: out };
}

export interface MfccTask {
  audioFile: string;
  offset: number;
  length: number;
  options: MfccOptions;
  /** Trim, feature kind, deltas, normalisation (defaults: the seed's plain MFCCs). */
  features?: FeatureOptions;
}

/** `valid`: frames from the clip itself; with cmvn speaker the data is raw, normalised by the stage over the group. */
export function mfccTask(task: MfccTask): { data: Float32Array; valid: number } {
  const y = readClipSamples(task.audioFile, task.offset, task.length);
  // Checked on the way in too: the mel floor (max(power, 1e-10)) turns NaN into silence unseen.
  assertFinite(y, 'input audio');
  const { data, valid } = utteranceFeatures(y, task.options, task.features, { deferGroupNorm: true });
  assertFinite(data, 'features');
  return { data, valid };
}
