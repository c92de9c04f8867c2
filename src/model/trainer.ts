/**
 * The training loop: standardise, shuffle, step, validate, keep the best epoch. Deterministic for
 * a given Rng: shuffling, initial weights and dropout masks each draw from a derived stream.
 */
import type { Rng } from '../util/rng.js';
import type { Architecture } from './architecture.js';
import { CheckpointKeeper } from './checkpoints.js';
import { argmax, balancedClassWeights, fillDropoutMask, fillTarget, fitNormalizer, gatherStandardised, scoreProbabilities, unweightedAverageRecall } from './data.js';
import { initialWeights } from './init.js';
import { modelLayout, type AdamConfig, type ModelLayout, type Normalizer } from './model-graphs.js';
import type { SessionOptions } from './ort.js';
import { learningRate, type LrSchedule } from './schedules.js';
import { applySpecAugment, specAugmentActive, type SpecAugmentOptions } from './spec-augment.js';
import { TrainSession, type Weights } from './train-session.js';

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss: number | null;
  val_accuracy: number | null;
  /** Validation UAR; recorded only when checkpoint_metric is 'uar' (default runs keep their history unchanged). */
  val_uar?: number | null;
  /** Learning rate of the epoch's last step. */
  lr: number;
}

/**
 * What onEpoch reports: the history row plus the epoch's wall-clock time. The time is kept out
 * of `history` because history is written to a hashed output, which must not depend on the clock.
 */
export interface EpochProgress extends EpochRecord {
  seconds: number;
}

export interface BatchInfo {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  samplesPerSecond: number;
}

export interface TrainOptions {
  /** [rows, frames, coefficients], raw (not standardised). */
  features: Float32Array;
  frames: number;
  coefficients: number;
  /** Class index per feature row. */
  labels: ArrayLike<number>;
  classes: number;
  trainRows: number[];
  validationRows: number[];
  architecture: Architecture;
  epochs: number;
  batchSize: number;
  lr: LrSchedule;
  adam: AdamConfig;
  rng: Rng;
  session?: SessionOptions;
  /** Start from these weights instead of fresh initialisers (fine-tuning). */
  initial?: Weights;
  /** Extra training options; all absent = the reference recipe. */
  regularization?: TrainingExtras;
  onBatch?(info: BatchInfo): void;
  onEpoch?(progress: EpochProgress): void;
  signal?: AbortSignal;
}

export interface TrainingExtras {
  /** SpecAugment masks on every training sample, drawn afresh each epoch. */
  specAugment?: SpecAugmentOptions;
  /** Label smoothing e: targets (1 - e) onehot + e / classes. */
  labelSmoothing?: number;
  /** 'balanced': loss weight n / (classes * n_c) per class of the training rows. */
  classWeights?: 'none' | 'balanced';
  /** Validation metric that picks the kept epoch (default accuracy). */
  checkpointMetric?: 'accuracy' | 'uar';
  /** Stop after this many epochs without a better checkpoint metric (default: never). */
  patience?: number | null;
  /**
   * Checkpoint ensemble: keep this many epochs, the best by the checkpoint metric (the last ones
   * without validation rows); default 1, the single best epoch.
   */
  ensemble?: number;
  /**
   * Weight averaging (SWA, Izmailov et al. 2018): the model is the element-wise mean of the last
   * `averageEpochs` epochs' weights and batch-norm statistics instead of the best epoch. 0 or
   * absent: off.
   */
  averageEpochs?: number;
}

export interface TrainResult {
  layout: ModelLayout;
  normalizer: Normalizer;
  /** Weights of the best epoch by the checkpoint metric (the last epoch without validation rows). */
  best: Weights;
  bestEpoch: number;
  /** The checkpoint ensemble, best first (`ensemble` epochs; one entry, the best, by default). */
  members: { epoch: number; weights: Weights }[];
  /** With averageEpochs: the averaged model, the epochs it averages and its validation scores. */
  averaged?: { epochs: number[]; weights: Weights; val_loss: number | null; val_accuracy: number | null; val_uar: number | null };
  final: Weights;
  /** Per-epoch metrics only (deterministic for a given Rng; no timings). */
  history: EpochRecord[];
  /** Wall-clock seconds of each epoch, for logs and the run registry (not for hashed outputs). */
  epochSeconds: number[];
  /** Median training throughput (whole batch loop, validation excluded) over epochs after the first (warm-up). */
  samplesPerSecond: number;
}

/** Element-wise mean of weight sets (parameters and batch-norm statistics alike), summed in float64. */
export function averageWeights(sets: readonly Weights[]): Weights {
  const mean = (pick: (w: Weights) => Float32Array): Float32Array => {
    const sum = new Float64Array(pick(sets[0]!).length);
    for (const w of sets) pick(w).forEach((v, i) => (sum[i] = sum[i]! + v));
    return Float32Array.from(sum, (v) => v / sets.length);
  };
  return { params: mean((w) => w.params), state: mean((w) => w.state) };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

export async function trainModel(o: TrainOptions): Promise<TrainResult> {
  if (o.trainRows.length === 0) throw new Error('no training rows');
  const layout = modelLayout(o.architecture, o.frames, o.coefficients, o.classes);
  const rowSize = o.frames * o.coefficients;
  const normalizer = fitNormalizer(o.features, rowSize, o.coefficients, o.trainRows);
  const trainX = gatherStandardised(o.features, rowSize, normalizer, o.trainRows);
  const trainY = o.trainRows.map((r) => o.labels[r]!);
  const valX = gatherStandardised(o.features, rowSize, normalizer, o.validationRows);
  const valY = o.validationRows.map((r) => o.labels[r]!);

  const start = o.initial ?? initialWeights(layout, o.rng.derive('init'));
  const session = await TrainSession.create(layout, o.adam, start, o.session);
  const n = trainY.length;
  const B = Math.min(o.batchSize, n);
  const batches = Math.ceil(n / B);
  const history: EpochRecord[] = [];
  const epochSeconds: number[] = [];
  const rates: number[] = [];
  const keeper = new CheckpointKeeper<Weights>(o.regularization?.ensemble ?? 1);
  const averageEpochs = o.regularization?.averageEpochs ?? 0;
  // A null score keeps the latest epochs: the ones weight averaging needs.
  const latest = averageEpochs > 0 ? new CheckpointKeeper<Weights>(averageEpochs) : undefined;

  const extra = o.regularization ?? {};
  const smoothing = extra.labelSmoothing ?? 0;
  const classWeights = extra.classWeights === 'balanced' ? balancedClassWeights(trainY, o.classes) : undefined;
  const plainTargets = smoothing === 0 && !classWeights;
  const specAugment = specAugmentActive(extra.specAugment) ? extra.specAugment : undefined;
  const byUar = extra.checkpointMetric === 'uar';

  const x = new Float32Array(B * rowSize);
  const onehot = new Float32Array(B * o.classes);
  const masks = layout.masks.map((mk) => new Float32Array(B * mk.shape.reduce((a, b) => a * b, 1)));
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const t0 = performance.now();
      const order = o.rng.derive(`shuffle:${epoch}`).shuffle(Array.from({ length: n }, (_, i) => i));
      const dropRng = o.rng.derive(`dropout:${epoch}`);
      const maskRng = specAugment ? o.rng.derive(`specaugment:${epoch}`) : undefined;
      let lossSum = 0;
      let correct = 0;
      let lr = 0;
      for (let b = 0; b < batches; b++) {
        if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
        const ids = order.slice(b * B, (b + 1) * B);
        const size = ids.length;
        onehot.fill(0);
        ids.forEach((r, j) => {
          x.set(trainX.subarray(r * rowSize, (r + 1) * rowSize), j * rowSize);
          if (plainTargets) onehot[j * o.classes + trainY[r]!] = 1;
          else fillTarget(onehot, j * o.classes, trainY[r]!, o.classes, smoothing, classWeights ? classWeights[trainY[r]!]! : 1);
          if (specAugment) applySpecAugment(x.subarray(j * rowSize, (j + 1) * rowSize), o.frames, o.coefficients, specAugment, maskRng!);
        });
        const stepMasks = layout.masks.map((mk, i) => {
          const m = masks[i]!.subarray(0, size * (masks[i]!.length / B));
          fillDropoutMask(dropRng, m, mk.rate);
          return m;
        });
        lr = learningRate(o.lr, session.steps);
        const res = await session.step(size, x.subarray(0, size * rowSize), onehot.subarray(0, size * o.classes), stepMasks, lr);
        lossSum += res.loss * size;
        let batchCorrect = 0;
        ids.forEach((r, j) => {
          if (argmax(res.logits, j * o.classes, o.classes) === trainY[r]) batchCorrect++;
        });
        correct += batchCorrect;
        const seen = Math.min((b + 1) * B, n);
        o.onBatch?.({
          epoch, batch: b + 1, batches,
          loss: lossSum / seen, accuracy: correct / seen,
          samplesPerSecond: seen / ((performance.now() - t0) / 1000),
        });
      }
      rates.push(n / ((performance.now() - t0) / 1000));
      let valLoss: number | null = null;
      let valAcc: number | null = null;
      let valUar: number | null = null;
      if (valY.length) {
        const probs = await session.evaluate(valX, valY.length);
        const s = scoreProbabilities(probs, valY, o.classes);
        valLoss = s.loss;
        valAcc = s.accuracy;
        if (byUar) valUar = unweightedAverageRecall(probs, valY, o.classes);
      }
      const record: EpochRecord = {
        epoch, loss: lossSum / n, accuracy: correct / n, val_loss: valLoss, val_accuracy: valAcc, lr,
      };
      const seconds = (performance.now() - t0) / 1000;
      if (byUar) record.val_uar = valUar;
      history.push(record);
      epochSeconds.push(seconds);
      const metric = byUar ? valUar : valAcc;
      keeper.offer(epoch, metric, () => session.weights());
      latest?.offer(epoch, null, () => session.weights());
      o.onEpoch?.({ ...record, seconds });
      // Early stopping: only with validation rows, after `patience` epochs without improvement.
      if (extra.patience != null && metric !== null && epoch - keeper.best!.epoch >= extra.patience) break;
    }
    const best = keeper.best!;
    let averaged: TrainResult['averaged'];
    if (latest) {
      const weights = averageWeights(latest.members.map((c) => c.weights));
      let scores = { val_loss: null as number | null, val_accuracy: null as number | null, val_uar: null as number | null };
      if (valY.length) {
        const probs = await session.evaluate(valX, valY.length, weights);
        const s = scoreProbabilities(probs, valY, o.classes);
        scores = { val_loss: s.loss, val_accuracy: s.accuracy, val_uar: unweightedAverageRecall(probs, valY, o.classes) };
      }
      averaged = { epochs: latest.members.map((c) => c.epoch).sort((a, b) => a - b), weights, ...scores };
    }
    return {
      averaged,
      layout, normalizer, best: best.weights, bestEpoch: best.epoch,
      members: keeper.members.map((c) => ({ epoch: c.epoch, weights: c.weights })),
      final: session.weights(), history, epochSeconds,
      samplesPerSecond: median(rates.length > 1 ? rates.slice(1) : rates),
    };
  } finally {
    await session.close();
  }
}
