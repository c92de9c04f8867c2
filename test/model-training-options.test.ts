/**
 * The optional training techniques (train.* params beyond the reference recipe): SpecAugment,
 * label smoothing, class-balanced weights, AdamW weight decay, UAR checkpointing and early
 * stopping. Each off by default; each checked against its definition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticFeatures as syntheticData, TINY_ARCHITECTURE as TINY } from './helpers/synthetic.js';
import { balancedClassWeights, fillTarget, unweightedAverageRecall } from '../src/model/data.js';
import { initialWeights } from '../src/model/init.js';
import { CheckpointKeeper } from '../src/model/checkpoints.js';
import { modelLayout } from '../src/model/model-graphs.js';
import { applySpecAugment, specAugmentActive } from '../src/model/spec-augment.js';
import { TrainSession } from '../src/model/train-session.js';
import { averageWeights, trainModel, type TrainingExtras, type TrainOptions } from '../src/model/trainer.js';
import { Rng } from '../src/util/rng.js';

const FRAMES = 12;
const COEFFS = 8;

function options(seed: string, epochs: number, extras?: TrainingExtras, lr = 1e-2): TrainOptions {
  const { features, labels } = syntheticData(72, FRAMES, COEFFS, 3, 'data');
  return {
    features, frames: FRAMES, coefficients: COEFFS, labels, classes: 3,
    trainRows: Array.from({ length: 48 }, (_, i) => i),
    validationRows: Array.from({ length: 24 }, (_, i) => 48 + i),
    architecture: TINY, epochs, batchSize: 16,
    lr: { schedule: 'constant', initial: lr },
    adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    rng: new Rng(seed), session: { threads: 1 }, regularization: extras,
  };
}

/** Sorted zeroed indices along one axis when whole rows/columns are masked. */
function zeroed(x: Float32Array, frames: number, coeffs: number, axis: 'time' | 'freq'): number[] {
  const out: number[] = [];
  const n = axis === 'time' ? frames : coeffs;
  for (let i = 0; i < n; i++) {
    let all = true;
    for (let j = 0; j < (axis === 'time' ? coeffs : frames); j++) {
      const v = axis === 'time' ? x[i * coeffs + j]! : x[j * coeffs + i]!;
      if (v !== 0) all = false;
    }
    if (all) out.push(i);
  }
  return out;
}

test('SpecAugment: whole bands and frame spans set to 0, at most masks x width of each, seeded', () => {
  const frames = 50;
  const coeffs = 40;
  const o = { freqMasks: 2, freqWidth: 6, timeMasks: 3, timeWidth: 5 };
  assert.equal(specAugmentActive({ freqMasks: 0, freqWidth: 8, timeMasks: 0, timeWidth: 20 }), false);
  assert.equal(specAugmentActive(o), true);
  let anyFreq = 0;
  let anyTime = 0;
  for (let s = 0; s < 20; s++) {
    const x = new Float32Array(frames * coeffs).fill(1);
    applySpecAugment(x, frames, coeffs, o, new Rng(`m${s}`));
    const f = zeroed(x, frames, coeffs, 'freq');
    const t = zeroed(x, frames, coeffs, 'time');
    assert.ok(f.length <= 12 && t.length <= 15, `${f.length} bands, ${t.length} frames`);
    // Every zero lies in a masked band or a masked frame: nothing else is touched.
    const zeros = x.reduce((a, v) => a + (v === 0 ? 1 : 0), 0);
    assert.equal(zeros, f.length * frames + t.length * coeffs - f.length * t.length);
    anyFreq += f.length;
    anyTime += t.length;
    const again = new Float32Array(frames * coeffs).fill(1);
    applySpecAugment(again, frames, coeffs, o, new Rng(`m${s}`));
    assert.deepEqual(again, x, 'same generator state, same masks');
  }
  // Mean width is half the maximum: ~2 x 3 bands and ~3 x 2.5 frames a sample.
  assert.ok(anyFreq / 20 > 2 && anyFreq / 20 < 10, `mean masked bands ${anyFreq / 20}`);
  assert.ok(anyTime / 20 > 2 && anyTime / 20 < 12, `mean masked frames ${anyTime / 20}`);
});

test('SpecAugment with deltas beside the static features: a frequency mask hides the same band in every block', () => {
  const frames = 10;
  const coeffs = 30; // 3 blocks of 10
  for (let s = 0; s < 10; s++) {
    const x = new Float32Array(frames * coeffs).fill(1);
    applySpecAugment(x, frames, coeffs, { freqMasks: 1, freqWidth: 4, timeMasks: 0, timeWidth: 0, blocks: 3 }, new Rng(`b${s}`));
    const f = zeroed(x, frames, coeffs, 'freq');
    const first = f.filter((c) => c < 10);
    assert.ok(first.length <= 4);
    assert.deepEqual(f, [...first, ...first.map((c) => c + 10), ...first.map((c) => c + 20)]);
  }
});

test('targets: label smoothing and balanced class weights; UAR is the mean per-class recall', () => {
  const t = new Float32Array(8);
  fillTarget(t, 4, 1, 4, 0.1, 1);
  assert.deepEqual(Array.from(t.subarray(4)), [0.025, 0.925, 0.025, 0.025].map(Math.fround));
  fillTarget(t, 0, 3, 4, 0, 2.5);
  assert.deepEqual(Array.from(t.subarray(0, 4)), [0, 0, 0, 2.5]);
  // 6 of class 0, 2 of class 1, none of class 2: n / (k n_c).
  assert.deepEqual(Array.from(balancedClassWeights([0, 0, 0, 0, 0, 0, 1, 1], 3)), [8 / 18, 8 / 6, 0]);
  // Class 0: 3 of 4 right; class 1: 0 of 1; class 2 absent → UAR (0.75 + 0) / 2, accuracy 3/5.
  const probs = Float32Array.from([0.9, 0.1, 0, 0.8, 0.2, 0, 0.7, 0.3, 0, 0.2, 0.8, 0, 0.6, 0.4, 0]);
  assert.equal(unweightedAverageRecall(probs, [0, 0, 0, 0, 1], 3), 0.375);
});

test('a step with smoothed, weighted targets reports -mean sum target log softmax(logits)', async () => {
  const layout = modelLayout(TINY, FRAMES, COEFFS, 3);
  const s = await TrainSession.create(layout, { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, initialWeights(layout, new Rng('w')), { threads: 1 });
  try {
    const B = 4;
    const x = Float32Array.from({ length: B * FRAMES * COEFFS }, (_, i) => Math.sin(i * 0.37));
    const target = new Float32Array(B * 3);
    [0, 2, 1, 2].forEach((y, j) => fillTarget(target, j * 3, y, 3, 0.2, [0.5, 1, 2][y]!));
    const masks = layout.masks.map((m) => new Float32Array(B * m.shape.reduce((a, b) => a * b, 1)).fill(1));
    const { loss, logits } = await s.step(B, x, target, masks, 0.001);
    let expected = 0;
    for (let j = 0; j < B; j++) {
      const z = Array.from(logits.subarray(j * 3, j * 3 + 3));
      const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
      for (let k = 0; k < 3; k++) expected -= target[j * 3 + k]! * (z[k]! - lse);
    }
    expected /= B;
    assert.ok(Math.abs(loss - expected) < 1e-5, `loss ${loss} vs ${expected}`);
  } finally {
    await s.close();
  }
});

test('AdamW: weight decay takes lr * wd * w off every parameter on top of the Adam update', async () => {
  const layout = modelLayout(TINY, FRAMES, COEFFS, 3);
  const start = initialWeights(layout, new Rng('w'));
  const B = 4;
  const x = Float32Array.from({ length: B * FRAMES * COEFFS }, (_, i) => Math.cos(i * 0.11));
  const onehot = new Float32Array(B * 3);
  [0, 1, 2, 0].forEach((y, j) => (onehot[j * 3 + y] = 1));
  const masks = layout.masks.map((m) => new Float32Array(B * m.shape.reduce((a, b) => a * b, 1)).fill(1));
  const after = async (weightDecay?: number) => {
    const s = await TrainSession.create(layout, { beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay }, start, { threads: 1 });
    try {
      await s.step(B, x, onehot, masks, 0.01);
      return s.weights().params;
    } finally {
      await s.close();
    }
  };
  const adam = await after();
  const adamw = await after(0.5);
  let worst = 0;
  for (let i = 0; i < adam.length; i++) {
    worst = Math.max(worst, Math.abs(adamw[i]! - (adam[i]! - 0.01 * 0.5 * start.params[i]!)));
  }
  assert.ok(worst < 1e-6, `AdamW - Adam differs from -lr wd w by ${worst}`);
  assert.notDeepEqual(adamw, adam);
});

test('checkpoint on validation UAR; early stopping after `patience` epochs without improvement', async () => {
  const r = await trainModel(options('uar', 4, { checkpointMetric: 'uar' }));
  assert.equal(r.history.length, 4);
  const uars = r.history.map((h) => h.val_uar!);
  assert.ok(uars.every((u) => u >= 0 && u <= 1));
  assert.equal(r.bestEpoch, uars.indexOf(Math.max(...uars)) + 1);
  // Without the option history has no val_uar (default runs write the same history.json as before).
  const plain = await trainModel(options('uar', 1));
  assert.equal('val_uar' in plain.history[0]!, false);
  // A learning rate too small to change any prediction: epoch 1 stays best, patience 2 stops after epoch 3.
  const stopped = await trainModel(options('stop', 10, { checkpointMetric: 'accuracy', patience: 2 }, 1e-12));
  assert.equal(stopped.bestEpoch, 1);
  assert.equal(stopped.history.length, 3);
});

test('SpecAugment, smoothing and class weights change training and stay reproducible; all-off is the reference', async () => {
  const extras: TrainingExtras = {
    specAugment: { freqMasks: 1, freqWidth: 3, timeMasks: 1, timeWidth: 4 }, labelSmoothing: 0.1, classWeights: 'balanced',
  };
  const a = await trainModel(options('aug', 1, extras));
  const b = await trainModel(options('aug', 1, extras));
  const ref = await trainModel(options('aug', 1));
  const off = await trainModel(options('aug', 1, {
    specAugment: { freqMasks: 0, freqWidth: 3, timeMasks: 0, timeWidth: 4 }, labelSmoothing: 0, classWeights: 'none', checkpointMetric: 'accuracy', patience: null,
  }));
  assert.deepEqual(a.final.params, b.final.params);
  assert.notDeepEqual(a.final.params, ref.final.params);
  assert.deepEqual(off.final.params, ref.final.params);
  for (const only of [{ specAugment: extras.specAugment }, { labelSmoothing: 0.1 }] as TrainingExtras[]) {
    const r = await trainModel(options('aug', 1, only));
    assert.notDeepEqual(r.final.params, ref.final.params, JSON.stringify(only));
  }
});

test('pooling mean / attention: trains, and model.onnx gives the validation probabilities of the training session', async () => {
  const { inferenceModel } = await import('../src/model/artifacts.js');
  const { createSession, loadOrt } = await import('../src/model/ort.js');
  const { gatherStandardised } = await import('../src/model/data.js');
  const ort = await loadOrt();
  for (const pooling of ['mean', 'attention'] as const) {
    const o = { ...options(`pool-${pooling}`, 3), architecture: { ...TINY, pooling, attention_units: 5 } };
    const r = await trainModel(o);
    const names = r.layout.params.map((p) => p.spec.name);
    assert.equal(names.includes('attention.score'), pooling === 'attention');
    assert.ok(r.history[2]!.loss < r.history[0]!.loss, `${pooling}: loss ${r.history.map((h) => h.loss)}`);
    const s = await TrainSession.create(r.layout, o.adam, r.best, { threads: 1 });
    const valX = gatherStandardised(o.features, FRAMES * COEFFS, r.normalizer, o.validationRows);
    const expected = await s.evaluate(valX, 24);
    await s.close();
    const model = await createSession(inferenceModel(r.layout, r.best, r.normalizer), { threads: 1 });
    const raw = Float32Array.from(o.validationRows.flatMap((row) => Array.from(o.features.subarray(row * FRAMES * COEFFS, (row + 1) * FRAMES * COEFFS))));
    const out = await model.run({ input: new ort.Tensor('float32', raw, [24, FRAMES, COEFFS]) });
    await model.release();
    const got = out.probabilities!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
    assert.ok(worst < 1e-5, `${pooling}: model.onnx vs session ${worst}`);
  }
});

test('checkpoint ensemble: keeps the k best epochs by the metric (ties to the earlier), or the last k without validation', () => {
  const keep = (size: number, scores: (number | null)[]) => {
    const k = new CheckpointKeeper<string>(size);
    scores.forEach((s, i) => k.offer(i + 1, s, () => `w${i + 1}`));
    return k.members.map((c) => c.epoch);
  };
  assert.deepEqual(keep(3, [0.2, 0.5, 0.4, 0.5, 0.1, 0.45]), [2, 4, 6]);
  assert.deepEqual(keep(1, [0.2, 0.5, 0.4, 0.5]), [2]);
  assert.deepEqual(keep(3, [0.3, 0.1]), [1, 2]);
  assert.deepEqual(keep(2, [null, null, null]), [3, 2]);
  // Weights are copied only for the epochs kept.
  let copies = 0;
  const k = new CheckpointKeeper<number>(2);
  [0.5, 0.6, 0.1, 0.2, 0.7].forEach((s, i) => k.offer(i + 1, s, () => ++copies));
  assert.equal(copies, 3);
  assert.throws(() => new CheckpointKeeper(0), RangeError);
});

test('checkpoint ensemble: model.onnx gives the mean of its members\' probabilities; one member is the single-model graph', async () => {
  const { inferenceModel } = await import('../src/model/artifacts.js');
  const { createSession, loadOrt } = await import('../src/model/ort.js');
  const ort = await loadOrt();
  const o = options('ensemble', 4, { checkpointMetric: 'uar', ensemble: 3 });
  const r = await trainModel(o);
  const uars = r.history.map((h) => h.val_uar!);
  const ranked = uars.map((u, i) => ({ u, e: i + 1 })).sort((a, b) => b.u - a.u || a.e - b.e).slice(0, 3).map((x) => x.e);
  assert.deepEqual(r.members.map((m) => m.epoch), ranked);
  assert.equal(r.members[0]!.epoch, r.bestEpoch);
  assert.deepEqual(r.members[0]!.weights, r.best);
  // Same training, same best epoch without the ensemble: keeping more epochs changes nothing else.
  const single = await trainModel(options('ensemble', 4, { checkpointMetric: 'uar' }));
  assert.equal(single.bestEpoch, r.bestEpoch);
  assert.deepEqual(single.best, r.best);
  assert.deepEqual(Buffer.from(inferenceModel(r.layout, [r.best], r.normalizer)), Buffer.from(inferenceModel(r.layout, r.best, r.normalizer)));

  const raw = Float32Array.from(o.validationRows.flatMap((row) => Array.from(o.features.subarray(row * FRAMES * COEFFS, (row + 1) * FRAMES * COEFFS))));
  const run = async (bytes: Uint8Array) => {
    const s = await createSession(bytes, { threads: 1 });
    const out = await s.run({ input: new ort.Tensor('float32', raw, [24, FRAMES, COEFFS]) });
    await s.release();
    return out.probabilities!.data as Float32Array;
  };
  const each = await Promise.all(r.members.map((m) => run(inferenceModel(r.layout, m.weights, r.normalizer))));
  const mean = await run(inferenceModel(r.layout, r.members.map((m) => m.weights), r.normalizer));
  let worst = 0;
  for (let i = 0; i < mean.length; i++) worst = Math.max(worst, Math.abs(mean[i]! - (each[0]![i]! + each[1]![i]! + each[2]![i]!) / 3));
  assert.ok(worst < 1e-6, `ensemble vs mean of members: ${worst}`);
  assert.notDeepEqual(each[0], each[1]);
});

test('weight averaging: the model is the mean of the last N epochs\' weights and batch-norm statistics, scored on validation', async () => {
  const { scoreProbabilities } = await import('../src/model/data.js');
  const { gatherStandardised } = await import('../src/model/data.js');
  const r = await trainModel(options('swa', 5, { checkpointMetric: 'uar', averageEpochs: 3 }));
  assert.deepEqual(r.averaged!.epochs, [3, 4, 5]);
  // The last three epochs' weights, from a run of 3, 4 and 5 epochs of the same training.
  const ends = await Promise.all([3, 4, 5].map((e) => trainModel(options('swa', e, { checkpointMetric: 'uar' }))));
  const mean = averageWeights(ends.map((e) => e.final));
  assert.deepEqual(r.averaged!.weights, mean);
  assert.ok(mean.state.some((v, i) => v !== ends[2]!.final.state[i]), 'batch-norm statistics are averaged too');
  let far = 0;
  mean.params.forEach((v, i) => (far = Math.max(far, Math.abs(v - (ends[0]!.final.params[i]! + ends[1]!.final.params[i]! + ends[2]!.final.params[i]!) / 3))));
  assert.ok(far < 1e-6, `mean of three: ${far}`);
  // Its validation scores are those of the averaged weights.
  const o = options('swa', 1);
  const s = await TrainSession.create(r.layout, o.adam, mean, { threads: 1 });
  const probs = await s.evaluate(gatherStandardised(o.features, FRAMES * COEFFS, r.normalizer, o.validationRows), 24);
  await s.close();
  const labels = o.validationRows.map((row) => o.labels[row]!);
  assert.equal(r.averaged!.val_accuracy, scoreProbabilities(probs, labels, 3).accuracy);
  assert.equal(r.averaged!.val_uar, unweightedAverageRecall(probs, labels, 3));
  // The rest of the run is unchanged by averaging.
  assert.deepEqual(r.final, ends[2]!.final);
  assert.equal((await trainModel(options('swa', 5))).averaged, undefined);
});
