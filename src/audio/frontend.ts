/**
 * The per-file audio front end the mfcc stage and `predict` call: librosa.load(path, sr=rate)
 * followed by librosa.feature.mfcc. Plain synchronous functions, safe to run in a worker.
 */
import { readWavMono } from './wav.js';
import { resample } from './resample.js';

export { mfccFrames, logMelSpectrogram, type MfccOptions, type MfccResult } from './mfcc.js';

export interface LoadedAudio {
  /** Mono samples at `sampleRate`. */
  y: Float32Array;
  sampleRate: number;
  /** The file's own sample rate. */
  originalRate: number;
  /** The file's channel count (before the mono mix). */
  channels: number;
  /** Duration of the file in seconds. */
  durationS: number;
}

export interface LoadOptions {
  /** Read the whole frames of a WAV whose data chunk runs past the end of the file (default false: E_WAV_TRUNCATED). */
  allowTruncated?: boolean;
  /** Refuse a file longer than this (seconds) before decoding it. */
  maxDurationS?: number;
}

/** Decodes a WAV file to mono (mean of channels) at its own rate. */
export function decodeMono(path: string, opts: LoadOptions = {}): LoadedAudio {
  const wav = readWavMono(path, { allowTruncated: opts.allowTruncated, maxDurationS: opts.maxDurationS });
  return {
    y: wav.mono,
    sampleRate: wav.sampleRate,
    originalRate: wav.sampleRate,
    channels: wav.channels,
    durationS: wav.durationS,
  };
}

/**
 * librosa.load(path, sr=targetRate): decode, mono mean (float64 sum, one rounding to float32),
 * soxr-HQ resampling when the rates differ. Without targetRate the file's own rate is kept.
 */
export function loadAudio(path: string, targetRate?: number, opts: LoadOptions = {}): LoadedAudio {
  const a = decodeMono(path, opts);
  if (targetRate === undefined || targetRate === a.originalRate) return a;
  return { ...a, y: resample(a.y, a.originalRate, targetRate), sampleRate: targetRate };
}
