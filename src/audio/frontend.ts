/**
 * The per-file audio front end the mfcc stage and `predict` call: librosa.load(path, sr=rate)
 * followed by librosa.feature.mfcc. Plain synchronous functions, safe to run in a worker.
 * Also the owner of frontend.json (its type, writer and reader), the front end a trained model
 * was fed, which travels with the model.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmopipeError } from '../util/errors.js';
import type { FrontendConfig } from './frontend-config.js';
import { readWavMono } from './wav.js';
import { resample } from './resample.js';

export { mfccFrames, logMelSpectrogram, type MfccOptions, type MfccResult } from './mfcc.js';
export { featureOptionsOf, mfccOptionsOf, type FrontendConfig } from './frontend-config.js';

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

export const FRONTEND_FILE = 'frontend.json';

/** The frontend.json of a model directory (train's output), checked field by field. */
export function readFrontend(modelDir: string): FrontendConfig {
  const path = join(modelDir, FRONTEND_FILE);
  if (!existsSync(path)) {
    throw new EmopipeError('E_NOT_FOUND', `${path} is missing: this directory is not the output of a train stage (use --run HASH)`);
  }
  let f: Partial<Record<keyof FrontendConfig, unknown>>;
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as typeof f;
  } catch (e) {
    throw new EmopipeError('E_MODEL', `frontend.json is not valid JSON: ${(e as Error).message}`, { file: path, cause: e });
  }
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const required = ['sampleRate', 'nMfcc', 'nFft', 'hopLength', 'nMels', 'fmin', 'frames'] as const;
  const bad = [...required.filter((k) => !num(f?.[k])), ...(['fmax', 'topDb'] as const).filter((k) => f?.[k] !== null && !num(f?.[k]))];
  if (bad.length > 0) throw new EmopipeError('E_MODEL', `frontend.json lacks a number for ${bad.join(', ')}`, { file: path });
  const badOption = [
    f.features !== undefined && f.features !== 'mfcc' && f.features !== 'logmel' ? 'features' : '',
    f.deltas !== undefined && f.deltas !== 1 && f.deltas !== 2 ? 'deltas' : '',
    f.cmvn !== undefined && f.cmvn !== 'none' && f.cmvn !== 'utterance' && f.cmvn !== 'speaker' ? 'cmvn' : '',
    f.speakerStats !== undefined && !validStats(f.speakerStats) ? 'speakerStats' : '',
    f.trim !== undefined && (typeof f.trim !== 'object' || f.trim === null || !['topDb', 'frameLength', 'hopLength'].every((k) => num((f.trim as Record<string, unknown>)[k]))) ? 'trim' : '',
  ].filter(Boolean);
  if (badOption.length > 0) throw new EmopipeError('E_MODEL', `frontend.json has an invalid ${badOption.join(', ')}`, { file: path });
  return f as FrontendConfig;
}

function validStats(v: unknown): boolean {
  const s = v as { mean?: unknown; std?: unknown } | null;
  const finite = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  return typeof s === 'object' && s !== null && finite(s.mean) && finite(s.std) && (s.mean as number[]).length === (s.std as number[]).length;
}

/** Writes frontend.json into a model directory. */
export function writeFrontend(modelDir: string, frontend: FrontendConfig): void {
  writeFileSync(join(modelDir, FRONTEND_FILE), JSON.stringify(frontend, null, 2) + '\n');
}
