/**
 * Classify audio files with a trained model, featurising them exactly as the run that trained
 * the model did (its resample rate and MFCC parameters, recorded in frontend.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAudio, mfccOptionsOf, type FrontendConfig } from '../audio/frontend.js';
import { mfccFrames } from '../audio/mfcc.js';
import { MODEL_FILE } from '../model/artifacts.js';
import { EmopipeError, errorMessage } from '../util/errors.js';

// frontend.json's owner is audio/frontend.ts; re-exported for callers of this module.
export { FRONTEND_FILE, readFrontend } from '../audio/frontend.js';

export interface Prediction {
  file: string;
  emotion: string;
  probabilities: Record<string, number>;
}

export interface PredictOutput {
  predictions: Prediction[];
  errors: { file: string; error: string }[];
}

/** Featurise and classify `files` with the model in `modelDir`; undecodable files become errors. */
export async function predictFiles(modelDir: string, files: string[], frontend: FrontendConfig, opts: { threads?: number } = {}): Promise<PredictOutput> {
  const modelPath = join(modelDir, MODEL_FILE);
  if (!existsSync(modelPath)) throw new EmopipeError('E_NOT_FOUND', `no model.onnx in ${modelDir}`);
  const options = mfccOptionsOf(frontend);
  const per = frontend.frames * frontend.nMfcc;
  const ok: { file: string; features: Float32Array }[] = [];
  const errors: { file: string; error: string }[] = [];
  for (const file of files) {
    try {
      const audio = loadAudio(file, frontend.sampleRate);
      ok.push({ file, features: mfccFrames(audio.y, options).data });
    } catch (e) {
      errors.push({ file, error: errorMessage(e).replace(`${file}: `, '') });
    }
  }
  const predictions: Prediction[] = [];
  if (ok.length > 0) {
    const { loadClassifier } = await import('../model/infer.js');
    const classifier = await loadClassifier(modelPath, { threads: opts.threads });
    try {
      const labels = classifier.labels ?? Array.from({ length: classifier.classes }, (_, i) => `class_${i}`);
      const x = new Float32Array(ok.length * per);
      ok.forEach((o, i) => x.set(o.features, i * per));
      const probs = await classifier.predict(x, ok.length);
      ok.forEach((o, i) => {
        const p = probs.subarray(i * labels.length, (i + 1) * labels.length);
        let best = 0;
        for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
        const probabilities: Record<string, number> = {};
        labels.forEach((l, k) => (probabilities[l] = Math.round(p[k]! * 1e6) / 1e6));
        predictions.push({ file: o.file, emotion: labels[best]!, probabilities });
      });
    } finally {
      await classifier.close();
    }
  }
  return { predictions, errors };
}
