import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StageInput } from '../src/engine/stage.js';
import { evaluateKind, runEvaluation, type Classifier, type EvaluateParams } from '../src/stages/evaluate.js';
import { makeStageContext } from './helpers/stage-context.js';
import { pngFontsAvailable } from '../src/report/plots.js';
import { Ajv } from 'ajv';
import { loadClassifier } from '../src/model/infer.js';
import { inferenceModel } from '../src/model/artifacts.js';
import { DEFAULT_ARCHITECTURE } from '../src/model/architecture.js';
import { initialWeights } from '../src/model/init.js';
import { modelLayout } from '../src/model/model-graphs.js';
import { builtinStageKinds } from '../src/stages/index.js';
import { EmopipeError } from '../src/util/errors.js';
import { writeNpy } from '../src/util/npy.js';
import { Rng } from '../src/util/rng.js';

const root = mkdtempSync(join(tmpdir(), 'emopipe-evaluate-'));
after(() => rmSync(root, { recursive: true, force: true }));

const LABELS = ['neutral', 'calm', 'happy']; // model order, deliberately not alphabetical
const FRAMES = 4;
const COEFFS = 3;

interface Row {
  label: string;
  predicted: string;
  split: 'train' | 'validation' | 'test';
  speaker: string;
  augmented?: boolean;
}

/**
 * Upstream outputs as train and mfcc write them. Each feature row carries the class the
 * stand-in classifier will predict (x[0]) and its own row number (x[1]), so the test knows
 * exactly which rows evaluate fed to the model.
 */
function writeUpstream(name: string, rows: Row[], opts: { synthetic?: boolean } = {}): { train: string; mfcc: string } {
  const train = join(root, name, 'train');
  const mfcc = join(root, name, 'mfcc');
  mkdirSync(train, { recursive: true });
  mkdirSync(mfcc, { recursive: true });
  writeFileSync(join(train, 'model.onnx'), 'stand-in model bytes');
  writeFileSync(join(train, 'labels.json'), JSON.stringify(LABELS));
  const history = Array.from({ length: 5 }, (_, e) => ({ epoch: e + 1, loss: 1 / (e + 1), accuracy: 0.5 + e / 10, val_loss: 1.2 / (e + 1), val_accuracy: 0.4 + e / 10, lr: 0.001, seconds: 2 }));
  writeFileSync(join(train, 'history.json'), JSON.stringify(history));
  writeFileSync(join(train, 'train.json'), JSON.stringify({ best_epoch: 4, epochs: 5, nested: { ignored: true } }));
  const x = new Float32Array(rows.length * FRAMES * COEFFS);
  rows.forEach((r, i) => {
    x[i * FRAMES * COEFFS] = LABELS.indexOf(r.predicted);
    x[i * FRAMES * COEFFS + 1] = i;
  });
  writeNpy(join(mfcc, 'features.npy'), { dtype: 'float32', shape: [rows.length, FRAMES, COEFFS], data: x });
  writeNpy(join(mfcc, 'labels.npy'), { dtype: 'int32', shape: [rows.length], data: Int32Array.from(rows, (r) => LABELS.indexOf(r.label)) });
  const index = rows.map((r, i) => ({ source: `Actor_${r.speaker}/clip${i}.wav`, label: r.label, speaker: r.speaker, split: r.split, augmentation: r.augmented ? { kind: 'noise', snr_db: 20 } : null }));
  writeFileSync(join(mfcc, 'index.json'), JSON.stringify(index));
  if (opts.synthetic !== undefined) writeFileSync(join(mfcc, 'meta.json'), JSON.stringify({ synthetic: opts.synthetic }));
  return { train, mfcc };
}

/** Predicts the class stored in x[0] with probability 0.8; records rows and batch sizes. */
function standIn() {
  const seen: number[] = [];
  const batches: number[] = [];
  let closed = false;
  let loadedFrom = '';
  const load = async (modelPath: string): Promise<Classifier> => {
    loadedFrom = modelPath;
    return {
      async predict(x, n) {
        batches.push(n);
        const p = new Float32Array(n * LABELS.length).fill(0.1);
        for (let i = 0; i < n; i++) {
          p[i * LABELS.length + x[i * FRAMES * COEFFS]!] = 0.8;
          seen.push(x[i * FRAMES * COEFFS + 1]!);
        }
        return p;
      },
      async close() {
        closed = true;
      },
    };
  };
  return { load, seen, batches, isClosed: () => closed, loadedFrom: () => loadedFrom };
}

function context(name: string, dirs: { train: string; mfcc: string }, params: Partial<EvaluateParams> = {}) {
  const inputs: StageInput[] = [
    { name: 'train', kind: 'train', dir: dirs.train },
    { name: 'mfcc', kind: 'mfcc', dir: dirs.mfcc },
  ];
  const ctx = makeStageContext(evaluateKind, params, { baseDir: join(root, name), inputs, jobs: 1 });
  return { ctx, outDir: ctx.outDir, logs: ctx.logs };
}

const r = (label: string, predicted: string, split: Row['split'], speaker: string, augmented = false): Row => ({ label, predicted, split, speaker, augmented });

// Validation: true n n c c h h / predicted n c c c h n → accuracy 4/6, recall n 1/2 c 1 h 1/2,
// precision n 1/2 c 2/3 h 1, F1 n 1/2 c 4/5 h 2/3. Test: one happy clip predicted calm.
const ROWS: Row[] = [
  r('neutral', 'neutral', 'train', '01'),
  r('calm', 'calm', 'train', '01'),
  r('happy', 'neutral', 'train', '02', true),
  r('neutral', 'neutral', 'validation', '07'),
  r('neutral', 'calm', 'validation', '08'),
  r('calm', 'calm', 'validation', '07'),
  r('calm', 'happy', 'validation', '07', true), // augmented copy: must not be scored
  r('calm', 'calm', 'validation', '08'),
  r('happy', 'happy', 'validation', '07'),
  r('happy', 'neutral', 'validation', '08'),
  r('neutral', 'neutral', 'test', '09'),
  r('calm', 'calm', 'test', '09'),
  r('happy', 'happy', 'test', '10'),
  r('happy', 'calm', 'test', '10'),
];
const VALIDATION_ROWS = [3, 4, 5, 7, 8, 9];
const TEST_ROWS = [10, 11, 12, 13];

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

test('evaluate scores un-augmented validation and test rows and writes every artifact', async () => {
  const dirs = writeUpstream('full', ROWS, { synthetic: true });
  const { ctx, outDir, logs } = context('full', dirs, { batch_size: 4 });
  const model = standIn();
  const result = await runEvaluation(ctx, model.load);

  assert.equal(model.loadedFrom(), join(dirs.train, 'model.onnx'));
  assert.deepEqual(model.seen, [...VALIDATION_ROWS, ...TEST_ROWS]);
  assert.deepEqual(model.batches, [4, 2, 4], 'batches of batch_size per split');
  assert.ok(model.isClosed(), 'classifier closed');

  const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
  assert.deepEqual(Object.keys(metrics).slice(0, 2), ['validation', 'test']);
  for (const split of ['validation', 'test']) {
    for (const key of ['accuracy', 'uar', 'macroF1', 'perClass', 'confusionMatrix', 'labels']) assert.ok(key in metrics[split], `${split}.${key}`);
    assert.deepEqual(metrics[split].labels, LABELS);
  }
  const v = metrics.validation;
  close(v.accuracy, 4 / 6, 'validation accuracy');
  close(v.uar, (1 / 2 + 1 + 1 / 2) / 3, 'validation UAR');
  close(v.macroF1, (1 / 2 + 4 / 5 + 2 / 3) / 3, 'validation macro-F1');
  assert.deepEqual(v.confusionMatrix, [[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
  close(v.perClass.calm.precision, 2 / 3, 'calm precision');
  assert.equal(v.perClass.calm.support, 2);
  assert.deepEqual(v.perSpeaker, { '07': { accuracy: 1, correct: 3, support: 3 }, '08': { accuracy: 1 / 3, correct: 1, support: 3 } });
  assert.deepEqual(metrics.test.confusionMatrix, [[1, 0, 0], [0, 1, 0], [0, 1, 1]]);
  assert.equal(metrics.synthetic, true);
  assert.deepEqual(metrics.dataset.original_rows_per_split, { train: 2, validation: 6, test: 4 });
  assert.equal(metrics.dataset.augmented_rows, 2);
  assert.equal(metrics.model.best_epoch, 4);
  assert.ok(!('nested' in metrics.model), 'only scalar train.json fields are copied');

  assert.deepEqual(Object.keys(result!.metrics!), ['accuracy', 'uar', 'macroF1', 'test_accuracy', 'test_uar', 'test_macroF1']);
  close(result!.metrics!.accuracy as number, 4 / 6, 'headline accuracy is validation');
  close(result!.metrics!.test_accuracy as number, 3 / 4, 'test accuracy');
  assert.match(result!.summary!, /^SYNTHETIC — validation: accuracy 66\.7%, UAR 66\.7%, macro-F1 0\.656 \(n=6\); test: accuracy 75\.0%/);

  const files = readdirSync(outDir).sort();
  const png = (await pngFontsAvailable()) ? ['confusion_test.png', 'confusion_validation.png', 'curves.png'] : [];
  assert.deepEqual(files, [
    'classification_report.txt', 'confusion_test.svg', 'confusion_validation.svg', 'curves.svg', 'metrics.json', 'predictions.csv', 'report.html', ...png,
  ].sort());

  const report = readFileSync(join(outDir, 'classification_report.txt'), 'utf8');
  assert.match(report, /^SYNTHETIC DATA/);
  assert.match(report, /== validation \(6 samples\) ==\n\s+precision\s+recall\s+f1-score\s+support\n\n\s+neutral\s+0\.500\s+0\.500\s+0\.500\s+2\n/);
  assert.ok(logs.some((l) => /^\s+calm\s+0\.667\s+1\.000\s+0\.800\s+2$/.test(l)), 'report logged line by line');

  const csv = readFileSync(join(outDir, 'predictions.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 10);
  assert.equal(csv[2], 'validation,Actor_08/clip4.wav,08,neutral,calm,0.8000');

  const html = readFileSync(join(outDir, 'report.html'), 'utf8');
  assert.match(html, /SYNTHETIC DATA — not a real result/);
  assert.equal((html.match(/src="data:image\/svg\+xml;base64,/g) ?? []).length, 3, 'two heatmaps and the curves');
  assert.ok(!/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html));
});

test('same inputs give byte-identical outputs', async () => {
  const dirs = writeUpstream('repeat', ROWS);
  const first = context('repeat-1', dirs);
  const second = context('repeat-2', dirs);
  await runEvaluation(first.ctx, standIn().load);
  await runEvaluation(second.ctx, standIn().load);
  const files = readdirSync(first.outDir).sort();
  assert.deepEqual(readdirSync(second.outDir).sort(), files);
  for (const f of files) assert.ok(readFileSync(join(first.outDir, f)).equals(readFileSync(join(second.outDir, f))), `${f} differs`);
});

test('no test rows, no plots: validation only, HTML table instead of images', async () => {
  const rows = ROWS.filter((row) => row.split !== 'test');
  const dirs = writeUpstream('val-only', rows, { synthetic: false });
  const { ctx, outDir } = context('val-only', dirs, { plots: false });
  const result = await runEvaluation(ctx, standIn().load);
  const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
  assert.ok(!('test' in metrics));
  assert.equal(metrics.synthetic, false);
  assert.deepEqual(Object.keys(result!.metrics!), ['accuracy', 'uar', 'macroF1']);
  assert.deepEqual(readdirSync(outDir).sort(), ['classification_report.txt', 'metrics.json', 'predictions.csv', 'report.html']);
  const html = readFileSync(join(outDir, 'report.html'), 'utf8');
  assert.ok(!/SYNTHETIC/.test(html));
  assert.ok(!/<img/.test(html));
  assert.match(html, /<table class="confusion">/);
});

test('a class the model does not know, and missing inputs, fail with typed errors', async () => {
  const unknown = writeUpstream('unknown', [...ROWS.slice(0, 5), r('sad', 'neutral', 'validation', '07')]);
  const a = context('unknown', unknown);
  await assert.rejects(runEvaluation(a.ctx, standIn().load), (e: unknown) => e instanceof EmopipeError && e.code === 'E_MODEL' && /label "sad"/.test(e.message));

  const noHeldOut = writeUpstream('train-only', ROWS.filter((row) => row.split === 'train'));
  const b = context('train-only', noHeldOut);
  await assert.rejects(runEvaluation(b.ctx, standIn().load), (e: unknown) => e instanceof EmopipeError && e.code === 'E_INPUT_MISSING');

  const missing = writeUpstream('missing', ROWS);
  rmSync(join(missing.train, 'model.onnx'));
  const c = context('missing', missing);
  await assert.rejects(runEvaluation(c.ctx, standIn().load), (e: unknown) => e instanceof EmopipeError && e.code === 'E_INPUT_MISSING' && e.file!.endsWith('model.onnx'));
  assert.ok(!existsSync(join(c.outDir, 'metrics.json')));

  // A model with the wrong number of outputs is reported, and the session still closed.
  let closed = false;
  const d = context('wrong-shape', writeUpstream('wrong-shape', ROWS));
  const wrong = async (): Promise<Classifier> => ({
    predict: async (_x, n) => new Float32Array(n * 2),
    close: async () => void (closed = true),
  });
  await assert.rejects(runEvaluation(d.ctx, wrong), (e: unknown) => e instanceof EmopipeError && e.code === 'E_MODEL' && /expected 6 × 3 classes/.test(e.message));
  assert.ok(closed);
});

test('registered evaluate kind: schema defaults, and a real ONNX model end to end', async () => {
  const kind = builtinStageKinds.find((k) => k.kind === 'evaluate');
  assert.ok(kind, 'evaluate is registered');
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(kind.paramsSchema);
  const params: Record<string, unknown> = {};
  assert.ok(validate(params));
  assert.deepEqual(params, { splits: ['validation', 'test'], batch_size: 256, plots: true, png: true });
  assert.ok(!validate({ splits: ['train'] }), 'only held-out splits');
  assert.ok(!validate({ batch: 3 }), 'unknown keys rejected');

  // An untrained network of the real architecture (scaled down), exported the way train does.
  const arch = { ...DEFAULT_ARCHITECTURE, conv_blocks: [{ filters: 2, kernel: 3, dropout: 0 }], lstm_units: 3 };
  const layout = modelLayout(arch, FRAMES, COEFFS, LABELS.length);
  const weights = initialWeights(layout, new Rng('evaluate-e2e'));
  const normalizer = { mean: new Float32Array(COEFFS).fill(0.5), std: new Float32Array(COEFFS).fill(2) };
  const dirs = writeUpstream('onnx', ROWS);
  writeFileSync(join(dirs.train, 'model.onnx'), inferenceModel(layout, weights, normalizer));
  // Features with some spread so the untrained model's outputs differ between rows.
  const rng = new Rng('evaluate-e2e-features');
  const x = new Float32Array(ROWS.length * FRAMES * COEFFS).map(() => rng.normal());
  writeNpy(join(dirs.mfcc, 'features.npy'), { dtype: 'float32', shape: [ROWS.length, FRAMES, COEFFS], data: x });

  const { ctx, outDir } = context('onnx', dirs, { ...(params as Partial<EvaluateParams>), batch_size: 4, plots: false });
  const result = await kind.run(ctx);
  const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8'));
  const csv = readFileSync(join(outDir, 'predictions.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  assert.equal(csv.length, VALIDATION_ROWS.length + TEST_ROWS.length);
  assert.ok(new Set(csv.map((c) => c[5])).size > 3, 'rows get different scores, so a mix-up would show');

  // Every row's score equals a one-row prediction of that row: rows were gathered correctly.
  const single = await loadClassifier(join(dirs.train, 'model.onnx'));
  try {
    for (const [j, row] of [...VALIDATION_ROWS, ...TEST_ROWS].entries()) {
      const p = await single.predict(x.slice(row * FRAMES * COEFFS, (row + 1) * FRAMES * COEFFS), 1);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'probabilities sum to 1');
      const best = p.indexOf(Math.max(...p));
      assert.equal(csv[j]![4], LABELS[best], `row ${row} predicted class`);
      assert.ok(Math.abs(Number(csv[j]![5]) - p[best]!) < 1e-4, `row ${row} confidence`);
    }
  } finally {
    await single.close();
  }
  for (const split of ['validation', 'test'] as const) {
    const rows = csv.filter((c) => c[0] === split);
    close(metrics[split].accuracy, rows.filter((c) => c[3] === c[4]).length / rows.length, `${split} accuracy`);
  }
  close(result!.metrics!.accuracy as number, metrics.validation.accuracy, 'headline = validation accuracy');
});
