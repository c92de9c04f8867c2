/**
 * train: fit the CNN + BiLSTM classifier on the mfcc stage's training rows, validate each epoch,
 * keep the best epoch by val_accuracy, and write model.onnx (normaliser inside) plus weights,
 * normaliser, labels, history and a run summary.
 */
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';
import { writeFrontend } from '../audio/frontend.js';
import { isOriginal, readFeatureSet, readLabelIds } from '../corpus/features-set.js';
import { architectureSchema, DEFAULT_ARCHITECTURE, type Architecture } from '../model/architecture.js';
import { writeModelDir, writeTrainSummary } from '../model/artifacts.js';
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
  optimizer: { beta1: number; beta2: number; epsilon: number };
  device: 'cpu' | 'cuda';
  threads: number;
  architecture: Architecture;
}

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
      },
    },
    device: {
      enum: ['cpu', 'cuda'], default: 'cpu',
      description: '`cuda` uses the ONNX Runtime CUDA execution provider (an error when this build has none).',
    },
    threads: { type: 'integer', minimum: 1, maximum: 64, default: 2, description: 'ONNX Runtime intra-op threads.' },
    architecture: architectureSchema,
  },
} as const;

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
  const set = readFeatureSet(dir);
  const { index, frames, coefficients } = set;
  const { labelIds: labels, labels: labelNames } = readLabelIds(dir, index);
  const trainRows = index.flatMap((r, i) => (r.split === 'train' ? [i] : []));
  const validationRows = index.flatMap((r, i) => (r.split === 'validation' && isOriginal(r) ? [i] : []));
  if (trainRows.length === 0) throw new EmopipeError('E_INPUT_MISSING', `${dir}: no rows with split "train"`);

  const batch = Math.min(p.batch_size, trainRows.length);
  const batches = Math.ceil(trainRows.length / batch);
  ctx.log.info(`${trainRows.length} training rows, ${validationRows.length} validation rows, ${labelNames.length} classes, ${frames}x${coefficients} features`);
  ctx.progress.start(p.epochs * batches, 'batches', `epoch 1/${p.epochs}`);
  const result = await trainModel({
    features: set.features,
    frames, coefficients, labels, classes: labelNames.length,
    trainRows, validationRows,
    architecture: p.architecture ?? DEFAULT_ARCHITECTURE,
    epochs: p.epochs,
    batchSize: p.batch_size,
    lr: schedule(p.lr, batches, p.epochs),
    adam: p.optimizer,
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
  writeModelDir(out, { layout: result.layout, weights: result.best, normalizer: result.normalizer, labels: labelNames, history: result.history });
  // The front end the features were made with travels with the model, so `predict --model DIR`
  // featurises new audio exactly as training did.
  const meta = set.meta;
  if (meta.frontend) writeFrontend(out, meta.frontend);
  const best = result.history[result.bestEpoch - 1]!;
  const summary = {
    best_epoch: result.bestEpoch,
    val_accuracy: best.val_accuracy,
    val_loss: best.val_loss,
    train_samples_per_s: Math.round(result.samplesPerSecond * 10) / 10,
    threads: p.threads,
    backend: `onnxruntime-node ${p.device}`,
    train_rows: trainRows.length,
    validation_rows: validationRows.length,
    parameters: result.layout.paramCount,
    synthetic: meta.synthetic === true,
  };
  writeTrainSummary(out, summary);
  return {
    metrics: { best_epoch: result.bestEpoch, val_accuracy: best.val_accuracy, train_samples_per_s: summary.train_samples_per_s },
    summary: `best epoch ${result.bestEpoch}/${p.epochs}, val_accuracy ${fmt(best.val_accuracy)}, ${summary.train_samples_per_s} samples/s`,
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
