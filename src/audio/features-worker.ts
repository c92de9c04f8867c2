/**
 * Worker task for the feature front end: one WAV file in, its MFCC matrix out, with the CPU
 * time of each phase (measured on the worker's own thread).
 */
import { readWavMono } from './wav.js';
import { resample } from './resample.js';
import { mfccFrames, type MfccOptions } from './mfcc.js';
import { threadCpuNs } from '../util/thread-cpu.js';

export interface FeatureTask {
  path: string;
  /** Rate the audio is resampled to before the MFCC (default 22050). */
  sampleRate?: number;
  /** MFCC settings; sampleRate is taken from the task. */
  mfcc?: Omit<MfccOptions, 'sampleRate'>;
  allowTruncated?: boolean;
}

export interface FeatureResult {
  /** frames x nMfcc, row-major. */
  data: Float32Array;
  frames: number;
  nMfcc: number;
  originalRate: number;
  channels: number;
  durationS: number;
  /** CPU nanoseconds spent in each phase on the worker thread. */
  cpuNs: { decode: number; resample: number; mfcc: number };
}

export function extractFeatures(task: FeatureTask): FeatureResult {
  const rate = task.sampleRate ?? 22050;
  const t0 = threadCpuNs();
  // The decoded samples live in a reused buffer: resample() copies them; MFCC at the file's own rate reads them at once.
  const wav = readWavMono(task.path, { allowTruncated: task.allowTruncated, reuseBuffer: true });
  const mono = wav.mono;
  const t1 = threadCpuNs();
  const y = wav.sampleRate === rate ? mono : resample(mono, wav.sampleRate, rate);
  const t2 = threadCpuNs();
  const m = mfccFrames(y, { ...task.mfcc, sampleRate: rate });
  const t3 = threadCpuNs();
  return {
    data: m.data,
    frames: m.frames,
    nMfcc: m.nMfcc,
    originalRate: wav.sampleRate,
    channels: wav.channels,
    durationS: wav.durationS,
    cpuNs: { decode: t1 - t0, resample: t2 - t1, mfcc: t3 - t2 },
  };
}
