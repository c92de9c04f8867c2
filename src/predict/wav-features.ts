/**
 * WAV bytes → the model's input features, with a run's recorded front end (frontend.json):
 * decode, mono mix, resample, features, pad/truncate. The same steps as `predict` (loadAudio +
 * utteranceFeatures), but on bytes in memory and with no Node import, so the server's /api/predict and
 * the browser bundle ("Try it") run exactly this code.
 */
import { decodeWavMono } from '../audio/wav.js';
import { resample } from '../audio/resample.js';
import { utteranceFeatures } from '../audio/features.js';
import { featureOptionsOf, mfccOptionsOf, type FrontendConfig } from '../audio/frontend-config.js';

/** Mono samples at the front end's rate → features [frames * dims], row-major. */
export function featuresOfSamples(y: Float32Array, sampleRate: number, frontend: FrontendConfig): Float32Array {
  const atRate = sampleRate === frontend.sampleRate ? y : resample(y, sampleRate, frontend.sampleRate);
  return utteranceFeatures(atRate, mfccOptionsOf(frontend), featureOptionsOf(frontend)).data;
}

/** A WAV file's bytes → features; bad bytes throw EmopipeError (E_WAV_*) naming `file`. */
export function featuresOfWav(bytes: Uint8Array, frontend: FrontendConfig, file = '<upload>'): Float32Array {
  const wav = decodeWavMono(bytes, { file });
  return featuresOfSamples(wav.mono, wav.sampleRate, frontend);
}

/** Index of the largest value, and the label → probability map rounded as `predict --json` does. */
export function describeProbabilities(p: ArrayLike<number>, labels: readonly string[]): { emotion: string; probabilities: Record<string, number> } {
  let best = 0;
  for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
  const probabilities: Record<string, number> = {};
  labels.forEach((l, k) => (probabilities[l] = Math.round(p[k]! * 1e6) / 1e6));
  return { emotion: labels[best]!, probabilities };
}
