/**
 * The train stage on a synthetic mfcc output: files written, metrics, best epoch, and a model.onnx
 * that (normaliser inside) reproduces the best epoch's validation accuracy from raw features.
 */
import { test } from 'node:test';
import { Ajv } from 'ajv';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StageContext } from '../src/engine/stage.js';
import { readWeights } from '../src/model/artifacts.js';
import { scoreProbabilities } from '../src/model/data.js';
import { loadClassifier } from '../src/model/infer.js';
import { trainKind, type TrainParams } from '../src/stages/train.js';
import { writeNpy } from '../src/util/npy.js';
import { Rng } from '../src/util/rng.js';
import { syntheticFeatures as syntheticData, TINY_ARCHITECTURE as TINY } from '../src/model/synthetic.js';

const FRAMES = 12;
const COEFFS = 8;
const CLASSES = ['angry', 'calm', 'happy'];

function fakeContext(input: string, out: string, params: TrainParams): StageContext<TrainParams> {
  const logs: string[] = [];
  const up = { name: 'mfcc', kind: 'mfcc', dir: input };
  return {
    stageName: 'train', params, inputs: [up],
    input: (k) => { if (k !== 'mfcc') throw new Error(k); return up; },
    maybeInput: (k) => (k === 'mfcc' ? up : undefined),
    outDir: out, rng: new Rng('pipeline-seed/train'),
    progress: { start() {}, tick() {}, label() {}, done() {} },
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
    signal: new AbortController().signal, jobs: 1, dataDir: out, pipelineDir: out, resolvePath: (p) => p,
  };
}

test('train stage writes a usable model and consistent metadata', async () => {
  const root = mkdtempSync(join(tmpdir(), 'emopipe-train-'));
  try {
    const input = join(root, 'mfcc');
    const out = join(root, 'out');
    for (const d of [input, out]) (await import('node:fs')).mkdirSync(d);
    const n = 60;
    const { features, labels } = syntheticData(n, FRAMES, COEFFS, CLASSES.length, 'stage');
    // Rows 0-41 train (+ 6 augmented copies of train rows), 42-59 validation.
    const index = Array.from({ length: n }, (_, i) => ({
      source: `clip${i}.wav`, label: CLASSES[labels[i]!]!, speaker: String(i % 4),
      split: i < 42 ? 'train' : 'validation', augmentation: i >= 36 && i < 42 ? { noise: 0.01 } : null,
    }));
    writeNpy(join(input, 'features.npy'), { dtype: 'float32', shape: [n, FRAMES, COEFFS], data: features });
    writeNpy(join(input, 'labels.npy'), { dtype: 'int32', shape: [n], data: labels });
    writeFileSync(join(input, 'index.json'), JSON.stringify(index));
    writeFileSync(join(input, 'labels.json'), JSON.stringify(CLASSES));

    const params: TrainParams = {
      epochs: 4, batch_size: 16,
      lr: { schedule: 'cosine_decay_restarts', initial: 0.01, first_decay_steps: null, decay_steps: null, t_mul: 2, m_mul: 1, alpha: 0 },
      optimizer: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, device: 'cpu', threads: 1, architecture: TINY,
    };
    const result = await trainKind.run(fakeContext(input, out, params));
    for (const f of ['model.onnx', 'weights.bin', 'weights.json', 'normalizer.json', 'labels.json', 'history.json', 'train.json']) {
      assert.ok(existsSync(join(out, f)), `${f} written`);
    }
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { val_accuracy: number; lr: number }[];
    const summary = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { best_epoch: number; train_rows: number };
    assert.equal(history.length, 4);
    assert.equal(summary.train_rows, 42);
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
