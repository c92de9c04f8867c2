/**
 * train: fit the CNN + BiLSTM classifier on the mfcc stage's training rows, validate each epoch,
 * keep the best epoch by val_accuracy (or val UAR: checkpoint_metric), and write model.onnx
 * (normaliser inside; with checkpoint_ensemble, the mean of the best epochs' probabilities; with
 * average_epochs, the mean of the last epochs' weights instead of the best epoch) plus weights,
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
import { Enum, Group, Nullable, Params, Type, type Static } from './params.js';

export const trainParamsSchema = Params({
  epochs: Type.Integer({ minimum: 1, default: 40, description: 'Passes over the training rows.' }),
  batch_size: Type.Integer({ minimum: 1, default: 32, description: 'Samples per optimizer step.' }),
  lr: Group({
    schedule: Enum(['constant', 'cosine_decay', 'cosine_decay_restarts'], {
      default: 'cosine_decay_restarts',
      description: '`constant`, `cosine_decay` (decay_steps, alpha) or `cosine_decay_restarts` (first_decay_steps, t_mul, m_mul, alpha).',
    }),
    initial: Type.Number({ exclusiveMinimum: 0, default: 0.001, description: 'initial_learning_rate.' }),
    first_decay_steps: Nullable(Type.Integer({
      minimum: 1, default: null,
      description: 'cosine_decay_restarts: steps in the first cycle; null = one epoch of steps.',
    })),
    decay_steps: Nullable(Type.Integer({
      minimum: 1, default: null,
      description: 'cosine_decay: steps to decay over; null = all steps of the run.',
    })),
    t_mul: Type.Number({ exclusiveMinimum: 0, default: 2.0, description: 'cosine_decay_restarts: cycle length multiplier.' }),
    m_mul: Type.Number({ minimum: 0, default: 1.0, description: 'cosine_decay_restarts: peak multiplier per restart.' }),
    alpha: Type.Number({ minimum: 0, maximum: 1, default: 0.0, description: 'Floor, as a fraction of the initial rate.' }),
  }, { description: 'Learning-rate schedule, Keras semantics, applied per optimizer step.' }),
  optimizer: Group({
    beta1: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'First-moment decay.' }),
    beta2: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.999, description: 'Second-moment decay.' }),
    epsilon: Type.Number({ exclusiveMinimum: 0, default: 1e-7, description: 'Added to sqrt(v).' }),
    weight_decay: Type.Number({
      minimum: 0, default: 0,
      description: 'Decoupled weight decay (AdamW): each step also subtracts lr * weight_decay * w from every parameter; 0 = Adam.',
    }),
  }, { description: 'Adam (Keras semantics).' }),
  device: Enum(['cpu', 'cuda'], {
    default: 'cpu',
    description: '`cuda` uses the ONNX Runtime CUDA execution provider (an error when this build has none).',
  }),
  threads: Type.Integer({ minimum: 1, maximum: 64, default: 2, description: 'ONNX Runtime intra-op threads.' }),
  architecture: Type.Unsafe<Architecture>(architectureSchema),
  label_smoothing: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0, description: 'Label smoothing e: training targets (1 - e) onehot + e / classes.' }),
  class_weights: Enum(['none', 'balanced'], {
    default: 'none',
    description: '`balanced`: loss weight n / (classes * n_c) per class of the training rows (sklearn\'s "balanced").',
  }),
  checkpoint_metric: Enum(['accuracy', 'uar'], {
    default: 'accuracy',
    description: 'Validation metric that picks the kept epoch: `accuracy`, or `uar` (unweighted average recall, also recorded as val_uar in history.json).',
  }),
  checkpoint_ensemble: Type.Integer({
    minimum: 1, maximum: 16, default: 1,
    description: 'Checkpoint ensemble: model.onnx averages the probabilities of this many epochs, the best by checkpoint_metric (the last ones without validation rows); weights.bin keeps the best. 1 = the best epoch alone.',
  }),
  average_epochs: Type.Integer({
    minimum: 0, maximum: 1000, default: 0,
    description: 'Weight averaging (SWA): the model is the mean of the weights and batch-norm statistics of the last N epochs instead of the best epoch (validation then only reports); 0 = off.',
  }),
  patience: Nullable(Type.Integer({
    minimum: 1, default: null,
    description: 'Early stopping: end training after this many epochs without a better checkpoint metric; null trains all epochs.',
  })),
  spec_augment: Group({
    freq_masks: Type.Integer({ minimum: 0, maximum: 16, default: 0, description: 'Masks over the coefficient axis per sample (with mfcc.deltas, the same band in the static, delta and delta-delta blocks).' }),
    freq_width: Type.Integer({ minimum: 0, default: 8, description: 'Largest frequency mask width (drawn uniformly from 0..freq_width).' }),
    time_masks: Type.Integer({ minimum: 0, maximum: 16, default: 0, description: 'Masks over the frame axis per sample.' }),
    time_width: Type.Integer({ minimum: 0, default: 20, description: 'Largest time mask width in frames (drawn uniformly from 0..time_width).' }),
  }, { description: 'SpecAugment time and frequency masks (set to 0 after standardisation) on every training sample, drawn per epoch from the seeded generator; validation and inference see whole features.' }),
});

export type TrainParams = Static<typeof trainParamsSchema>;

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
  const averageEpochs = p.average_epochs ?? 0;
  const ensembleSize = p.checkpoint_ensemble ?? 1;
  if (averageEpochs > p.epochs) {
    throw new EmopipeError('E_PIPELINE_INVALID', `train.average_epochs (${averageEpochs}) is more than train.epochs (${p.epochs})`);
  }
  if (averageEpochs > 0 && ensembleSize > 1) {
    throw new EmopipeError('E_PIPELINE_INVALID', 'train: average_epochs and checkpoint_ensemble each decide what model.onnx holds; set only one');
  }

  // Deltas sit beside the static features on the coefficient axis: frequency masks cover the same band in each block.
  const featureBlocks = 1 + (set.meta.frontend?.deltas ?? 0);
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
    adam: { beta1: p.optimizer.beta1, beta2: p.optimizer.beta2, epsilon: p.optimizer.epsilon, weightDecay: p.optimizer.weight_decay ?? 0 },
    regularization: {
      labelSmoothing: p.label_smoothing ?? 0,
      classWeights: p.class_weights ?? 'none',
      checkpointMetric: p.checkpoint_metric ?? 'accuracy',
      patience: p.patience ?? null,
      ensemble: ensembleSize,
      averageEpochs,
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
  const ensemble = result.members.length > 1 ? result.members.map((m) => m.weights) : undefined;
  const averaged = result.averaged;
  writeModelDir(out, { layout: result.layout, weights: averaged?.weights ?? result.best, ensemble, normalizer: result.normalizer, labels: labelNames, history: result.history });
  // The front end the features were made with travels with the model, so `predict --model DIR`
  // featurises new audio exactly as training did.
  const meta = set.meta;
  if (meta.frontend) writeFrontend(out, meta.frontend);
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
    ...(ensemble ? { ensemble_epochs: result.members.map((m) => m.epoch) } : {}),
    // The written model is the average: its own validation scores, beside the best single epoch's.
    ...(averaged ? {
      averaged_epochs: [averaged.epochs[0], averaged.epochs[averaged.epochs.length - 1]],
      averaged_val_accuracy: averaged.val_accuracy, averaged_val_loss: averaged.val_loss,
      ...(p.checkpoint_metric === 'uar' ? { averaged_val_uar: averaged.val_uar } : {}),
    } : {}),
  };
  writeTrainSummary(out, summary);
  const samplesPerS = Math.round(result.samplesPerSecond * 10) / 10;
  const seconds = Math.round(result.epochSeconds.reduce((a, b) => a + b, 0) * 10) / 10;
  return {
    metrics: { best_epoch: result.bestEpoch, val_accuracy: averaged ? averaged.val_accuracy : best.val_accuracy, train_samples_per_s: samplesPerS, train_seconds: seconds, threads: p.threads },
    summary: (averaged
      ? `weights averaged over epochs ${averaged.epochs[0]}-${averaged.epochs[averaged.epochs.length - 1]}, val_accuracy ${fmt(averaged.val_accuracy)}`
      : `best epoch ${result.bestEpoch}/${p.epochs}, val_accuracy ${fmt(best.val_accuracy)}`) +
      (ensemble ? `, ensemble of epochs ${result.members.map((m) => m.epoch).join(',')}` : '') +
      `, ${samplesPerS} samples/s, ${p.threads} thread(s)`,
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
