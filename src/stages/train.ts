/**
 * train: fit the CNN + BiLSTM classifier on the mfcc stage's training rows, validate each epoch,
 * keep the best epoch by val_accuracy (or val UAR: checkpoint_metric), and write model.onnx
 * (normaliser inside) plus weights, normaliser, labels, history and a run summary.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';
import { readNpy } from '../util/npy.js';
import { architectureSchema, DEFAULT_ARCHITECTURE, type Architecture } from '../model/architecture.js';
import { inferenceModel, normalizerJson, writeJson, writeWeights } from '../model/artifacts.js';
import type { LrSchedule } from '../model/schedules.js';
import { trainModel } from '../model/trainer.js';

export interface TrainParams {
  epochs: number;
  batch_size: number;
  lr: {
    schedule: 'constant' | 'cosine_decay' | 'cosine_decay_restarts';
    initial: number;
    first_decay_steps: number | null;
    decay_steps: number | null;
    t_mul: number;
    m_mul: number;
    alpha: number;
  };
  optimizer: { beta1: number; beta2: number; epsilon: number; weight_decay?: number };
  device: 'cpu' | 'cuda';
  threads: number;
  architecture: Architecture;
  label_smoothing?: number;
  class_weights?: 'none' | 'balanced';
  checkpoint_metric?: 'accuracy' | 'uar';
  patience?: number | null;
  spec_augment?: { freq_masks: number; freq_width: number; time_masks: number; time_width: number };
}

const SPEC_AUGMENT_DEFAULT = { freq_masks: 0, freq_width: 8, time_masks: 0, time_width: 20 };

const LR_DEFAULT: TrainParams['lr'] = {
  schedule: 'cosine_decay_restarts', initial: 0.001, first_decay_steps: null, decay_steps: null, t_mul: 2.0, m_mul: 1.0, alpha: 0.0,
};
const OPTIMIZER_DEFAULT = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

export const trainParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    epochs: { type: 'integer', minimum: 1, default: 40, description: 'Passes over the training rows.' },
    batch_size: { type: 'integer', minimum: 1, default: 32, description: 'Samples per optimizer step.' },
    lr: {
      type: 'object',
      additionalProperties: false,
      default: LR_DEFAULT,
      description: 'Learning-rate schedule, Keras semantics, applied per optimizer step.',
      properties: {
        schedule: {
          enum: ['constant', 'cosine_decay', 'cosine_decay_restarts'],
          default: LR_DEFAULT.schedule,
          description: '`constant`, `cosine_decay` (decay_steps, alpha) or `cosine_decay_restarts` (first_decay_steps, t_mul, m_mul, alpha).',
        },
        initial: { type: 'number', exclusiveMinimum: 0, default: LR_DEFAULT.initial, description: 'initial_learning_rate.' },
        first_decay_steps: {
          type: ['integer', 'null'], minimum: 1, default: null,
          description: 'cosine_decay_restarts: steps in the first cycle; null = one epoch of steps.',
        },
        decay_steps: {
          type: ['integer', 'null'], minimum: 1, default: null,
          description: 'cosine_decay: steps to decay over; null = all steps of the run.',
        },
        t_mul: { type: 'number', exclusiveMinimum: 0, default: LR_DEFAULT.t_mul, description: 'cosine_decay_restarts: cycle length multiplier.' },
        m_mul: { type: 'number', minimum: 0, default: LR_DEFAULT.m_mul, description: 'cosine_decay_restarts: peak multiplier per restart.' },
        alpha: { type: 'number', minimum: 0, maximum: 1, default: LR_DEFAULT.alpha, description: 'Floor, as a fraction of the initial rate.' },
      },
    },
    optimizer: {
      type: 'object',
      additionalProperties: false,
      default: OPTIMIZER_DEFAULT,
      description: 'Adam (Keras semantics).',
      properties: {
        beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'First-moment decay.' },
        beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.999, description: 'Second-moment decay.' },
        epsilon: { type: 'number', exclusiveMinimum: 0, default: 1e-7, description: 'Added to sqrt(v).' },
        weight_decay: {
          type: 'number', minimum: 0, default: 0,
          description: 'Decoupled weight decay (AdamW): each step also subtracts lr * weight_decay * w from every parameter; 0 = Adam.',
        },
      },
    },
    device: {
      enum: ['cpu', 'cuda'], default: 'cpu',
      description: '`cuda` uses the ONNX Runtime CUDA execution provider (an error when this build has none).',
    },
    threads: { type: 'integer', minimum: 1, maximum: 64, default: 2, description: 'ONNX Runtime intra-op threads.' },
    architecture: architectureSchema,
    label_smoothing: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 'Label smoothing e: training targets (1 - e) onehot + e / classes.' },
    class_weights: {
      enum: ['none', 'balanced'], default: 'none',
      description: '`balanced`: loss weight n / (classes * n_c) per class of the training rows (sklearn\'s "balanced").',
    },
    checkpoint_metric: {
      enum: ['accuracy', 'uar'], default: 'accuracy',
      description: 'Validation metric that picks the kept epoch: `accuracy`, or `uar` (unweighted average recall, also recorded as val_uar in history.json).',
    },
    patience: {
      type: ['integer', 'null'], minimum: 1, default: null,
      description: 'Early stopping: end training after this many epochs without a better checkpoint metric; null trains all epochs.',
    },
    spec_augment: {
      type: 'object',
      additionalProperties: false,
      default: SPEC_AUGMENT_DEFAULT,
      description: 'SpecAugment time and frequency masks (set to 0 after standardisation) on every training sample, drawn per epoch from the seeded generator; validation and inference see whole features.',
      properties: {
        freq_masks: { type: 'integer', minimum: 0, maximum: 16, default: 0, description: 'Masks over the coefficient axis per sample (with mfcc.deltas, the same band in the static, delta and delta-delta blocks).' },
        freq_width: { type: 'integer', minimum: 0, default: 8, description: 'Largest frequency mask width (drawn uniformly from 0..freq_width).' },
        time_masks: { type: 'integer', minimum: 0, maximum: 16, default: 0, description: 'Masks over the frame axis per sample.' },
        time_width: { type: 'integer', minimum: 0, default: 20, description: 'Largest time mask width in frames (drawn uniformly from 0..time_width).' },
      },
    },
  },
} as const;

interface IndexRow {
  source: string;
  label: string;
  speaker?: string;
  split: 'train' | 'validation' | 'test';
  augmentation: unknown;
}

function schedule(p: TrainParams['lr'], stepsPerEpoch: number, epochs: number): LrSchedule {
  switch (p.schedule) {
    case 'constant': return { schedule: 'constant', initial: p.initial };
    case 'cosine_decay':
      return { schedule: 'cosine_decay', initial: p.initial, decay_steps: p.decay_steps ?? stepsPerEpoch * epochs, alpha: p.alpha };
    case 'cosine_decay_restarts':
      return {
        schedule: 'cosine_decay_restarts', initial: p.initial, first_decay_steps: p.first_decay_steps ?? stepsPerEpoch,
        t_mul: p.t_mul, m_mul: p.m_mul, alpha: p.alpha,
      };
  }
}

const fmt = (v: number | null, d = 4) => (v === null ? '-' : v.toFixed(d));

export async function runTrain(ctx: StageContext<TrainParams>): Promise<StageResult> {
  const p = ctx.params;
  const dir = ctx.input('mfcc').dir;
  const feats = readNpy(join(dir, 'features.npy'));
  if (feats.dtype !== 'float32' || feats.shape.length !== 3) {
    throw new EmopipeError('E_INPUT_MISSING', `${dir}/features.npy: expected float32 [N, frames, n_mfcc], got ${feats.dtype} [${feats.shape}]`);
  }
  const [n, frames, coefficients] = feats.shape as [number, number, number];
  const labelsNpy = readNpy(join(dir, 'labels.npy'));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as IndexRow[];
  if (index.length !== n || labelsNpy.data.length !== n) {
    throw new EmopipeError('E_INPUT_MISSING', `${dir}: features (${n}), labels.npy (${labelsNpy.data.length}) and index.json (${index.length}) disagree`);
  }
  const labelsPath = join(dir, 'labels.json');
  const labelNames = existsSync(labelsPath)
    ? (JSON.parse(readFileSync(labelsPath, 'utf8')) as string[])
    : [...new Set(index.map((r) => r.label))].sort();
  const labels = Int32Array.from(labelsNpy.data as ArrayLike<number>);
  labels.forEach((l, i) => {
    if (l < 0 || l >= labelNames.length || labelNames[l] !== index[i]!.label) {
      throw new EmopipeError('E_INPUT_MISSING', `${dir}: row ${i} has label index ${l} but index.json says "${index[i]!.label}"`);
    }
  });
  const trainRows = index.flatMap((r, i) => (r.split === 'train' ? [i] : []));
  const validationRows = index.flatMap((r, i) => (r.split === 'validation' && r.augmentation == null ? [i] : []));
  if (trainRows.length === 0) throw new EmopipeError('E_INPUT_MISSING', `${dir}: no rows with split "train"`);

  // Deltas sit beside the static features on the coefficient axis: frequency masks cover the same band in each block.
  const metaFile = join(dir, 'meta.json');
  const upstreamFrontend = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as { frontend?: { deltas?: number } }).frontend : undefined;
  const featureBlocks = 1 + (upstreamFrontend?.deltas ?? 0);
  const batch = Math.min(p.batch_size, trainRows.length);
  const batches = Math.ceil(trainRows.length / batch);
  ctx.log.info(`${trainRows.length} training rows, ${validationRows.length} validation rows, ${labelNames.length} classes, ${frames}x${coefficients} features`);
  ctx.progress.start(p.epochs * batches, 'batches', `epoch 1/${p.epochs}`);
  const result = await trainModel({
    features: feats.data as Float32Array,
    frames, coefficients, labels, classes: labelNames.length,
    trainRows, validationRows,
    architecture: p.architecture ?? DEFAULT_ARCHITECTURE,
    epochs: p.epochs,
    batchSize: p.batch_size,
    lr: schedule(p.lr, batches, p.epochs),
    adam: { beta1: p.optimizer.beta1, beta2: p.optimizer.beta2, epsilon: p.optimizer.epsilon, weightDecay: p.optimizer.weight_decay ?? 0 },
    regularization: {
      labelSmoothing: p.label_smoothing ?? 0,
      classWeights: p.class_weights ?? 'none',
      checkpointMetric: p.checkpoint_metric ?? 'accuracy',
      patience: p.patience ?? null,
      specAugment: p.spec_augment && {
        freqMasks: p.spec_augment.freq_masks, freqWidth: p.spec_augment.freq_width,
        timeMasks: p.spec_augment.time_masks, timeWidth: p.spec_augment.time_width, blocks: featureBlocks,
      },
    },
    rng: ctx.rng,
    session: { threads: p.threads, device: p.device },
    signal: ctx.signal,
    onBatch: (b) => ctx.progress.tick(1, { loss: +b.loss.toFixed(4), acc: +b.accuracy.toFixed(3), 'samples/s': Math.round(b.samplesPerSecond) }),
    onEpoch: (e) => {
      ctx.log.info(
        `epoch ${e.epoch}/${p.epochs} loss=${fmt(e.loss)} acc=${fmt(e.accuracy)} val_loss=${fmt(e.val_loss)} ` +
          `val_acc=${fmt(e.val_accuracy)} lr=${e.lr.toExponential(3)} ${e.seconds.toFixed(1)}s`,
      );
      if (e.epoch < p.epochs) ctx.progress.label(`epoch ${e.epoch + 1}/${p.epochs}`);
    },
  });
  ctx.progress.done();

  const out = ctx.outDir;
  writeFileSync(join(out, 'model.onnx'), inferenceModel(result.layout, result.best, result.normalizer));
  writeWeights(out, result.layout, result.best);
  writeJson(join(out, 'normalizer.json'), normalizerJson(result.normalizer));
  writeJson(join(out, 'labels.json'), labelNames);
  writeJson(join(out, 'history.json'), result.history);
  // The front end the features were made with travels with the model, so `predict --model DIR`
  // featurises new audio exactly as training did.
  const metaPath = join(dir, 'meta.json');
  const meta = existsSync(metaPath) ? (JSON.parse(readFileSync(metaPath, 'utf8')) as { frontend?: unknown; synthetic?: boolean }) : {};
  if (meta.frontend) writeJson(join(out, 'frontend.json'), meta.frontend);
  const best = result.history[result.bestEpoch - 1]!;
  // train.json is a hashed output: only what the fingerprint determines. Throughput and the
  // thread count (a non-semantic param) go to the StageResult, i.e. the run registry and logs.
  const summary = {
    best_epoch: result.bestEpoch,
    val_accuracy: best.val_accuracy,
    val_loss: best.val_loss,
    backend: `onnxruntime-node ${p.device}`,
    train_rows: trainRows.length,
    validation_rows: validationRows.length,
    parameters: result.layout.paramCount,
    synthetic: meta.synthetic === true,
    // Only when the options are used, so a default run's train.json is as before.
    ...(p.checkpoint_metric === 'uar' ? { checkpoint_metric: 'uar', val_uar: best.val_uar ?? null } : {}),
    ...(p.patience != null ? { epochs_run: result.history.length } : {}),
  };
  writeJson(join(out, 'train.json'), summary);
  const samplesPerS = Math.round(result.samplesPerSecond * 10) / 10;
  const seconds = Math.round(result.epochSeconds.reduce((a, b) => a + b, 0) * 10) / 10;
  return {
    metrics: { best_epoch: result.bestEpoch, val_accuracy: best.val_accuracy, train_samples_per_s: samplesPerS, train_seconds: seconds, threads: p.threads },
    summary: `best epoch ${result.bestEpoch}/${p.epochs}, val_accuracy ${fmt(best.val_accuracy)}, ${samplesPerS} samples/s, ${p.threads} thread(s)`,
  };
}

export const trainKind: StageKind<TrainParams> = {
  kind: 'train',
  description: 'Train the CNN + BiLSTM classifier (ONNX Runtime, Adam): model.onnx, weights, normalizer, labels, history',
  paramsSchema: trainParamsSchema,
  inputs: [{ kind: 'mfcc', description: 'features.npy, labels.npy, index.json (split per row), labels.json' }],
  random: true,
  module: import.meta.url,
  // ORT splits MatMul/Conv work across threads by output blocks, never inside a sum: one step and
  // one epoch with 1 and 2 threads gave bit-identical weights (test/model-train.test.ts).
  nonSemanticParams: ['threads'],
  run: runTrain,
};
