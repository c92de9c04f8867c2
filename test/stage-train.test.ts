/**
 * The train stage on a synthetic mfcc output: files written, metrics, best epoch, and a model.onnx
 * that (normaliser inside) reproduces the best epoch's validation accuracy from raw features.
 */
import { test } from 'node:test';
import { Ajv } from 'ajv';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFrontend } from '../src/audio/frontend.js';
import { writeFeatureSet, type FeatureIndexRow } from '../src/corpus/features-set.js';
import { readWeights } from '../src/model/artifacts.js';
import { scoreProbabilities } from '../src/model/data.js';
import { loadClassifier } from '../src/model/infer.js';
import { trainKind, type TrainParams } from '../src/stages/train.js';
import { makeStageContext } from './helpers/stage-context.js';
import { syntheticFeatures as syntheticData, TINY_ARCHITECTURE as TINY } from './helpers/synthetic.js';

const FRAMES = 12;
const COEFFS = 8;
const CLASSES = ['angry', 'calm', 'happy'];

test('train stage writes a usable model and consistent metadata', async () => {
  const root = mkdtempSync(join(tmpdir(), 'emopipe-train-'));
  try {
    const input = join(root, 'mfcc');
    mkdirSync(input);
    const n = 60;
    const { features, labels } = syntheticData(n, FRAMES, COEFFS, CLASSES.length, 'stage');
    // Rows 0-41 train (+ 6 augmented copies of train rows), 42-59 validation.
    const index = Array.from({ length: n }, (_, i): FeatureIndexRow => ({
      source: `clip${i}.wav`, label: CLASSES[labels[i]!]!, speaker: String(i % 4),
      split: i < 42 ? 'train' : 'validation', augmentation: i >= 36 && i < 42 ? { noise: 0.01 } : null,
    }));
    const frontend = { sampleRate: 22050, nMfcc: COEFFS, nFft: 512, hopLength: 128, nMels: 32, fmin: 0, fmax: null, topDb: 80, frames: FRAMES };
    await writeFeatureSet(input, { features, frames: FRAMES, coefficients: COEFFS, labelIds: labels, index, labels: CLASSES, synthetic: true, frontend });

    const params: TrainParams = {
      epochs: 4, batch_size: 16,
      lr: { schedule: 'cosine_decay_restarts', initial: 0.01, first_decay_steps: null, decay_steps: null, t_mul: 2, m_mul: 1, alpha: 0 },
      optimizer: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weight_decay: 0 }, device: 'cpu', threads: 1, architecture: TINY,
      label_smoothing: 0, class_weights: 'none', checkpoint_metric: 'accuracy', checkpoint_ensemble: 1, average_epochs: 0, patience: null, spec_augment: { freq_masks: 0, freq_width: 8, time_masks: 0, time_width: 20 },
    };
    const ctx = makeStageContext(trainKind, { ...params }, { baseDir: root, seed: 'pipeline-seed', inputs: [{ name: 'mfcc', kind: 'mfcc', dir: input }] });
    const out = ctx.outDir;
    const result = await trainKind.run(ctx);
    for (const f of ['model.onnx', 'weights.bin', 'weights.json', 'normalizer.json', 'labels.json', 'history.json', 'train.json']) {
      assert.ok(existsSync(join(out, f)), `${f} written`);
    }
    assert.deepEqual(readFrontend(out), frontend, 'the front end travels with the model');
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { val_accuracy: number; lr: number }[];
    const summary = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { best_epoch: number; train_rows: number; synthetic: boolean };
    assert.equal(history.length, 4);
    assert.equal(summary.train_rows, 42);
    assert.equal(summary.synthetic, true, "mfcc's synthetic flag is carried into train.json");
    // One epoch = 3 steps = first_decay_steps (null → one epoch): epoch 2 starts a new cycle.
    assert.ok(history[0]!.lr < 0.01 && history[0]!.lr > 0);
    const best = Math.max(...history.map((h) => h.val_accuracy));
    assert.equal(result?.metrics?.best_epoch, summary.best_epoch);
    assert.equal(history[summary.best_epoch - 1]!.val_accuracy, best);
    assert.equal(result?.metrics?.val_accuracy, best);

    // model.onnx on raw features (validation rows) reproduces the best epoch's accuracy.
    const clf = await loadClassifier(join(out, 'model.onnx'), { threads: 1 });
    assert.deepEqual(clf.labels, CLASSES);
    const per = FRAMES * COEFFS;
    const probs = await clf.predict(features.subarray(42 * per), n - 42);
    await clf.close();
    for (let i = 0; i < n - 42; i++) {
      const s = probs.subarray(i * 3, i * 3 + 3).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(s - 1) < 1e-5);
    }
    assert.equal(scoreProbabilities(probs, Array.from(labels.subarray(42)), 3).accuracy, best);
    const { weights } = readWeights(out);
    assert.ok(weights.params.every(Number.isFinite));
    assert.equal('ensemble_epochs' in summary, false, 'a single-model train.json is unchanged');

    // checkpoint_ensemble: model.onnx averages the two best epochs; weights.bin stays the best one.
    const ens = makeStageContext(trainKind, { ...params, checkpoint_ensemble: 2 }, { baseDir: join(root, 'ens'), seed: 'pipeline-seed', inputs: [{ name: 'mfcc', kind: 'mfcc', dir: input }] });
    await trainKind.run(ens);
    const ensSummary = JSON.parse(readFileSync(join(ens.outDir, 'train.json'), 'utf8')) as { best_epoch: number; ensemble_epochs: number[] };
    assert.equal(ensSummary.best_epoch, summary.best_epoch);
    assert.equal(ensSummary.ensemble_epochs.length, 2);
    assert.equal(ensSummary.ensemble_epochs[0], summary.best_epoch);
    assert.deepEqual(readWeights(ens.outDir).weights, weights);
    const ensClf = await loadClassifier(join(ens.outDir, 'model.onnx'), { threads: 1 });
    const ensProbs = await ensClf.predict(features.subarray(42 * per), n - 42);
    await ensClf.close();
    assert.notDeepEqual(ensProbs, probs);

    // average_epochs: model.onnx and weights.bin hold the mean of the last epochs; train.json says which and how it scores.
    const avg = makeStageContext(trainKind, { ...params, average_epochs: 2 }, { baseDir: join(root, 'avg'), seed: 'pipeline-seed', inputs: [{ name: 'mfcc', kind: 'mfcc', dir: input }] });
    await trainKind.run(avg);
    const avgSummary = JSON.parse(readFileSync(join(avg.outDir, 'train.json'), 'utf8')) as { best_epoch: number; averaged_epochs: number[]; averaged_val_accuracy: number };
    assert.deepEqual(avgSummary.averaged_epochs, [3, 4]);
    assert.equal(avgSummary.best_epoch, summary.best_epoch);
    const avgClf = await loadClassifier(join(avg.outDir, 'model.onnx'), { threads: 1 });
    const avgProbs = await avgClf.predict(features.subarray(42 * per), n - 42);
    await avgClf.close();
    assert.equal(scoreProbabilities(avgProbs, Array.from(labels.subarray(42)), 3).accuracy, avgSummary.averaged_val_accuracy);
    assert.notDeepEqual(readWeights(avg.outDir).weights, weights);
    for (const bad of [{ average_epochs: 5 }, { average_epochs: 2, checkpoint_ensemble: 2 }]) {
      const c = makeStageContext(trainKind, { ...params, ...bad }, { baseDir: join(root, 'bad'), seed: 'pipeline-seed', inputs: [{ name: 'mfcc', kind: 'mfcc', dir: input }] });
      await assert.rejects(trainKind.run(c), (e: Error & { code?: string }) => e.code === 'E_PIPELINE_INVALID' && /average_epochs/.test(e.message));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('train params schema: every default filled, unknown keys rejected at every level', async () => {
  const ajv = new Ajv({ useDefaults: true, strict: false });
  const validate = ajv.compile(trainKind.paramsSchema);
  const p: Record<string, unknown> = { lr: { initial: 0.002 } };
  assert.ok(validate(p), JSON.stringify(validate.errors));
  assert.equal(p.epochs, 40);
  assert.equal(p.batch_size, 32);
  assert.deepEqual(p.lr, { schedule: 'cosine_decay_restarts', initial: 0.002, first_decay_steps: null, decay_steps: null, t_mul: 2, m_mul: 1, alpha: 0 });
  assert.deepEqual((p.architecture as { conv_blocks: unknown[] }).conv_blocks, [
    { filters: 32, kernel: 3, dropout: 0.3 }, { filters: 64, kernel: 3, dropout: 0.3 },
  ]);
  for (const bad of [{ nope: 1 }, { lr: { nope: 1 } }, { optimizer: { nope: 1 } }, { architecture: { nope: 1 } },
    { architecture: { conv_blocks: [{ filters: 8, nope: 1 }] } }, { device: 'tpu' }]) {
    assert.equal(validate(bad), false, JSON.stringify(bad));
  }
});
