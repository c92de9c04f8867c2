/**
 * Per-file work of the audio stages, run in worker threads by src/util/pool.ts. Each function
 * takes a plain, cloneable task and returns typed arrays (transferred back, not copied).
 */
import { loadAudio } from '../audio/frontend.js';
import type { MfccOptions } from '../audio/mfcc.js';
import { utteranceFeatures, type FeatureOptions } from '../audio/features.js';
import { applyAugmentation, type AugmentSpec } from '../audio/augment.js';
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

/** librosa.load(file, sr=rate): decode, mono mean, soxr-HQ-equivalent resampling. */
export function loadTask(task: LoadTask): LoadResult {
  const a = loadAudio(task.file, task.rate);
  return { y: a.y, originalRate: a.originalRate, channels: a.channels };
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
  return { y: applyAugmentation(y, task.sampleRate, task.spec, new Rng(task.seed)) };
}

export interface MfccTask {
  audioFile: string;
  offset: number;
  length: number;
  options: MfccOptions;
  /** Trim, feature kind, deltas, normalisation (defaults: the seed's plain MFCCs). */
  features?: FeatureOptions;
}

export function mfccTask(task: MfccTask): { data: Float32Array } {
  const y = readClipSamples(task.audioFile, task.offset, task.length);
  return { data: utteranceFeatures(y, task.options, task.features).data };
}
