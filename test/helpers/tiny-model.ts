/**
 * A small emotion model trained in seconds on real RAVDESS features (three emotions, a few clips
 * each), written as a train stage output directory (model.onnx, labels.json, frontend.json) for
 * `predict --model DIR`. Tests that compare the model's answers on different inputs need a real
 * model, not a good one.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext } from '../../src/engine/stage.js';
import { loadAudio } from '../../src/audio/frontend.js';
import { mfccFrames } from '../../src/audio/mfcc.js';
import type { Architecture } from '../../src/model/architecture.js';
import { TINY_ARCHITECTURE } from './synthetic.js';
import { mfccOptionsOf, type FrontendConfig } from '../../src/stages/mfcc.js';
import { trainKind, type TrainParams } from '../../src/stages/train.js';
import { writeNpy } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';

export const FRONTEND: FrontendConfig = { sampleRate: 22050, nMfcc: 40, nFft: 2048, hopLength: 512, nMels: 128, fmin: 0, fmax: null, topDb: 80, frames: 174 };

/** Trains on `clips` (label = RAVDESS emotion name) and returns the model directory under `root`. */
export async function trainTinyModel(root: string, clips: { path: string; label: string }[], epochs = 12, architecture: Architecture = TINY_ARCHITECTURE): Promise<string> {
  const input = join(root, 'mfcc');
  const out = join(root, 'model');
  mkdirSync(input, { recursive: true });
  mkdirSync(out, { recursive: true });
  const labels = [...new Set(clips.map((c) => c.label))].sort();
  const per = FRONTEND.frames * FRONTEND.nMfcc;
  const features = new Float32Array(clips.length * per);
  clips.forEach((c, i) => features.set(mfccFrames(loadAudio(c.path, FRONTEND.sampleRate).y, mfccOptionsOf(FRONTEND)).data, i * per));
  // Every clip trains; every fourth also validates (the best epoch is picked on them).
  const index = clips.map((c, i) => ({ source: c.path, label: c.label, speaker: '01', split: i % 4 === 3 ? 'validation' : 'train', augmentation: null }));
  writeNpy(join(input, 'features.npy'), { dtype: 'float32', shape: [clips.length, FRONTEND.frames, FRONTEND.nMfcc], data: features });
  writeNpy(join(input, 'labels.npy'), { dtype: 'int32', shape: [clips.length], data: Int32Array.from(clips, (c) => labels.indexOf(c.label)) });
  writeFileSync(join(input, 'index.json'), JSON.stringify(index));
  writeFileSync(join(input, 'labels.json'), JSON.stringify(labels));
  writeFileSync(join(input, 'meta.json'), JSON.stringify({ frontend: FRONTEND }));
  const params: TrainParams = {
    epochs, batch_size: 8,
    lr: { schedule: 'cosine_decay_restarts', initial: 0.01, first_decay_steps: null, decay_steps: null, t_mul: 2, m_mul: 1, alpha: 0 },
    optimizer: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weight_decay: 0 }, device: 'cpu', threads: 1, architecture,
    label_smoothing: 0, class_weights: 'none', checkpoint_metric: 'accuracy', checkpoint_ensemble: 1, average_epochs: 0, patience: null, spec_augment: { freq_masks: 0, freq_width: 8, time_masks: 0, time_width: 20 },
  };
  const up = { name: 'mfcc', kind: 'mfcc', dir: input };
  const ctx: StageContext<TrainParams> = {
    stageName: 'train', params, inputs: [up],
    input: () => up,
    maybeInput: (k) => (k === 'mfcc' ? up : undefined),
    outDir: out, rng: new Rng('tiny-model/train'),
    progress: { start() {}, tick() {}, label() {}, done() {} },
    log: { info() {}, warn() {} },
    signal: new AbortController().signal, jobs: 1, dataDir: out, pipelineDir: out, resolvePath: (p) => p,
  };
  await trainKind.run(ctx);
  return out;
}
