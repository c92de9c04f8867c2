/**
 * The front end a trained model was fed (frontend.json's content) and the options it maps to.
 * No Node imports: the browser bundle ("Try it") featurises audio with exactly these settings.
 * The file itself is read and written by audio/frontend.ts.
 */
import type { MfccOptions } from './mfcc.js';
import type { Cmvn, FeatureKind, FeatureOptions } from './features.js';
import type { TrimOptions } from './trim.js';
import type { FeatureStats } from './group-norm.js';

/** The audio front end of a trained model: everything `predict` needs to featurise a new file. */
export interface FrontendConfig {
  sampleRate: number;
  nMfcc: number;
  nFft: number;
  hopLength: number;
  nMels: number;
  fmin: number;
  fmax: number | null;
  topDb: number | null;
  frames: number;
  /*
   * Front-end options beyond the seed's MFCCs; each is present only when not at its default, so
   * the front end of a default run (meta.json, frontend.json) stays byte-identical to before and
   * frontend.json files written before these options existed read as the defaults.
   */
  features?: FeatureKind;
  deltas?: 1 | 2;
  cmvn?: Cmvn;
  trim?: TrimOptions;
  /** cmvn speaker: the average training speaker's statistics, for a clip featurised alone. */
  speakerStats?: FeatureStats;
}

export function mfccOptionsOf(f: FrontendConfig): MfccOptions {
  return {
    sampleRate: f.sampleRate, nMfcc: f.nMfcc, nFft: f.nFft, hopLength: f.hopLength, nMels: f.nMels,
    fmin: f.fmin, fmax: f.fmax ?? f.sampleRate / 2, topDb: f.topDb, frames: f.frames,
  };
}

/** The front-end options beyond the MFCC settings (absent keys = defaults). */
export function featureOptionsOf(f: FrontendConfig): FeatureOptions {
  return { features: f.features ?? 'mfcc', deltas: f.deltas ?? 0, cmvn: f.cmvn ?? 'none', trim: f.trim ?? null, ...(f.speakerStats ? { speakerStats: f.speakerStats } : {}) };
}
