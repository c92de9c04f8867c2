import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aggregateInstances, spread } from '../src/report/aggregate.js';
import { classificationMetrics } from '../src/report/metrics.js';
import { summarizeKind } from '../src/stages/summarize.js';
import type { SummarizeParams } from '../src/stages/summarize.js';
import { makeStageContext, tempDir } from './helpers/stage-context.js';

const LABELS = ['neutral', 'happy', 'sad'];
/** An evaluate-like split section from label pairs. */
const section = (pairs: [number, number][]) => classificationMetrics(pairs.map((x) => x[0]), pairs.map((x) => x[1]), LABELS);

test('spread: mean, population std, min, max and per-fold values', () => {
  const s = spread({ 'fold=1': 0.5, 'fold=2': 0.7, 'fold=3': 0.6 });
  assert.ok(Math.abs(s.mean - 0.6) < 1e-12);
  assert.ok(Math.abs(s.std - Math.sqrt(0.02 / 3)) < 1e-12);
  assert.deepEqual([s.min, s.max], [0.5, 0.7]);
  assert.deepEqual(Object.keys(s.perFold), ['fold=1', 'fold=2', 'fold=3']);
});

test('aggregate: the pooled confusion matrix is the sum, pooled metrics come from it; label mismatches refused', () => {
  const a = section([[0, 0], [1, 1], [2, 0]]);
  const b = section([[0, 1], [1, 1], [2, 2], [2, 2]]);
  const out = aggregateInstances([{ label: 'fold=1', splits: { test: a } }, { label: 'fold=2', splits: { test: b } }]);
  assert.deepEqual(out.test!.pooled.confusionMatrix, [[1, 1, 0], [0, 2, 0], [1, 0, 2]]);
  assert.equal(out.test!.pooled.samples, 7);
  assert.ok(Math.abs(out.test!.pooled.accuracy - 5 / 7) < 1e-12);
  assert.deepEqual(out.test!.samples, { 'fold=1': 3, 'fold=2': 4 });
  assert.ok(Math.abs(out.test!.accuracy.mean - (2 / 3 + 3 / 4) / 2) < 1e-12);
  const other = { ...b, labels: ['x', 'y', 'z'] };
  assert.throws(() => aggregateInstances([{ label: 'fold=1', splits: { test: a } }, { label: 'fold=2', splits: { test: other } }]), /fold=2: its test labels/);
});

test('summarize run(): metrics.json per metric and split, per-fold table and pooled confusion in report.html', async () => {
  const base = tempDir('emopipe-summary-');
  const inputs = [1, 2].map((fold) => {
    const dir = join(base, `evaluate-${fold}`);
    mkdirSync(dir);
    const test = section(fold === 1 ? [[0, 0], [1, 1], [2, 0]] : [[0, 1], [1, 1], [2, 2], [2, 2]]);
    const validation = section([[0, 0], [1, 1]]);
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ validation, test, synthetic: false }));
    return { name: `evaluate@fold=${fold}`, kind: 'evaluate', dir, matrix: { fold } };
  });
  const ctx = makeStageContext<SummarizeParams>(summarizeKind, { plots: true }, { baseDir: base, inputs, stageName: 'summary' });
  const result = await summarizeKind.run(ctx);
  const doc = JSON.parse(readFileSync(join(ctx.outDir, 'metrics.json'), 'utf8'));
  assert.deepEqual(doc.instances.map((i: { label: string }) => i.label), ['fold=1', 'fold=2']);
  for (const split of ['test', 'validation']) {
    for (const m of ['accuracy', 'uar', 'macroF1']) assert.deepEqual(Object.keys(doc[split][m]).sort(), ['max', 'mean', 'min', 'perFold', 'std'], `${split}.${m}`);
  }
  assert.deepEqual(doc.test.accuracy.perFold, { 'fold=1': 2 / 3, 'fold=2': 0.75 });
  assert.deepEqual(doc.test.pooled.confusionMatrix, [[1, 1, 0], [0, 2, 0], [1, 0, 2]]);
  assert.ok(result && result.metrics && Math.abs((result.metrics.test_accuracy_mean as number) - (2 / 3 + 0.75) / 2) < 1e-12);
  assert.equal(result!.metrics!.accuracy_std, 0, 'validation (unprefixed) identical in both folds');
  assert.match(result!.summary!, /2 instances — test: accuracy 70\.8% ± 4\.2/);
  const html = readFileSync(join(ctx.outDir, 'report.html'), 'utf8');
  assert.match(html, /<th>fold=1<\/th><td>66\.7%<\/td>/);
  assert.match(html, /<tr class="agg"><th>mean<\/th><td>70\.8%<\/td>/);
  assert.match(html, /Pooled confusion matrix/);
  assert.match(html, /class="confusion"/);
  assert.match(html, /data:image\/svg\+xml;base64/);
  // Deterministic output (the cache trusts it): a second run writes identical bytes.
  const again = makeStageContext<SummarizeParams>(summarizeKind, { plots: true }, { baseDir: base, inputs, stageName: 'summary' });
  await summarizeKind.run(again);
  assert.equal(readFileSync(join(again.outDir, 'report.html'), 'utf8'), html);
});
