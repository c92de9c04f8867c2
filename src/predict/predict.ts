/**
 * Classify audio files with a trained model, featurising them exactly as the run that trained
 * the model did (its resample rate and MFCC parameters, recorded in frontend.json).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { featureOptionsOf, loadAudio, mfccOptionsOf, type FrontendConfig } from '../audio/frontend.js';
import { featureDims, utteranceFeatures } from '../audio/features.js';
import { normaliseGroups, normaliseWith } from '../audio/group-norm.js';
import { MODEL_FILE } from '../model/artifacts.js';
import { EmopipeError, errorMessage } from '../util/errors.js';

// frontend.json's owner is audio/frontend.ts; re-exported for callers of this module.
export { FRONTEND_FILE, readFrontend } from '../audio/frontend.js';

export interface Prediction {
  file: string;
  emotion: string;
  probabilities: Record<string, number>;
  /** Set when the file is longer than the model's input: only its beginning was classified. */
  note?: string;
}

export interface PredictOutput {
  predictions: Prediction[];
  errors: { file: string; error: string }[];
  /** Set when the model normalises per speaker: which statistics the files were normalised with. */
  normalisation?: string;
}

/**
 * Featurise and classify `files` with the model in `modelDir`; undecodable files become errors.
 * `separateSpeakers`: with a cmvn-speaker model, the files are different voices, so each is
 * normalised by the model's average training speaker instead of the files' pooled statistics.
 */
export async function predictFiles(modelDir: string, files: string[], frontend: FrontendConfig, opts: { threads?: number; separateSpeakers?: boolean } = {}): Promise<PredictOutput> {
  const modelPath = join(modelDir, MODEL_FILE);
  if (!existsSync(modelPath)) throw new EmopipeError('E_NOT_FOUND', `no model.onnx in ${modelDir}`);
  const options = mfccOptionsOf(frontend);
  const featureOptions = featureOptionsOf(frontend);
  const per = frontend.frames * featureDims(options, featureOptions);
  const perSpeaker = featureOptions.cmvn === 'speaker';
  const ok: { file: string; features: Float32Array; valid: number; note?: string }[] = [];
  const errors: { file: string; error: string }[] = [];
  for (const file of files) {
    try {
      const audio = loadAudio(file, frontend.sampleRate);
      const f = utteranceFeatures(audio.y, options, featureOptions, { deferGroupNorm: perSpeaker });
      ok.push({ file, features: f.data, valid: f.valid, note: truncationNote(audio.y.length, audio.durationS, frontend) });
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
      if (perSpeaker) {
        const rows = { data: x, frames: frontend.frames, dims: per / frontend.frames, valid: ok.map((o) => o.valid) };
        // Files given together stand for one speaker, as a speaker's clips did in training; a
        // lone file (or --separate-speakers) gets the average training speaker's statistics.
        if (together(ok.length, opts)) normaliseGroups(rows, ok.map(() => 'files'));
        else if (frontend.speakerStats) normaliseWith(rows, frontend.speakerStats);
        else normaliseGroups(rows, ok.map((_, i) => String(i)));
      }
      const probs = await classifier.predict(x, ok.length);
      ok.forEach((o, i) => {
        const p = probs.subarray(i * labels.length, (i + 1) * labels.length);
        let best = 0;
        for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
        const probabilities: Record<string, number> = {};
        labels.forEach((l, k) => (probabilities[l] = Math.round(p[k]! * 1e6) / 1e6));
        predictions.push({ file: o.file, emotion: labels[best]!, probabilities, ...(o.note ? { note: o.note } : {}) });
      });
    } finally {
      await classifier.close();
    }
  }
  return { predictions, errors, ...(perSpeaker && ok.length > 0 ? { normalisation: speakerNote(ok.length, frontend, opts) } : {}) };
}

const together = (files: number, opts: { separateSpeakers?: boolean }) => files > 1 && !opts.separateSpeakers;

function speakerNote(files: number, frontend: FrontendConfig, opts: { separateSpeakers?: boolean }): string {
  if (together(files, opts)) return `the model normalises per speaker (cmvn: speaker): the ${files} files given together were normalised as one speaker's clips (--separate-speakers if they are different voices)`;
  const each = files === 1 ? 'the file was' : 'each file was';
  if (!frontend.speakerStats) return `the model normalises per speaker (cmvn: speaker): ${each} normalised by its own statistics`;
  return `the model normalises per speaker (cmvn: speaker): ${each} normalised by the average training speaker's statistics; several clips of one voice given together are normalised by their own, as in training`;
}

/** The model reads `frames` MFCC frames; a longer file is cut (pad-or-truncate): say so. */
function truncationNote(samples: number, durationS: number, frontend: FrontendConfig): string | undefined {
  if (1 + Math.floor(samples / frontend.hopLength) <= frontend.frames) return undefined;
  const seen = ((frontend.frames - 1) * frontend.hopLength) / frontend.sampleRate;
  return `only the first ${seen.toFixed(1)} s of ${durationS.toFixed(1)} s were classified; use --segments to classify the whole recording`;
}
