import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  argmaxRows,
  classificationMetrics,
  confusionMatrix,
  evaluateSplits,
  formatClassificationReport,
  groupAccuracy,
} from '../src/report/metrics.js';
import { Rng } from '../src/util/rng.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≠ ${expected}`);

// Hand-computed case (3 classes, 9 samples):
//   true a a a b b c c c c
//   pred a b b b c c c a c
// confusion rows (true) × cols (pred): a [1 2 0], b [0 1 1], c [1 0 3]
// precision a 1/2 b 1/3 c 3/4 · recall a 1/3 b 1/2 c 3/4 · F1 a 2/5 b 2/5 c 3/4
const labels = ['a', 'b', 'c'];
const yTrue = [0, 0, 0, 1, 1, 2, 2, 2, 2];
const yPred = [0, 1, 1, 1, 2, 2, 2, 0, 2];

test('confusion matrix: rows are true labels, columns predictions', () => {
  assert.deepEqual(confusionMatrix(yTrue, yPred, 3), [
    [1, 2, 0],
    [0, 1, 1],
    [1, 0, 3],
  ]);
  assert.throws(() => confusionMatrix([0, 3], [0, 0], 3), /true label 3/);
  assert.throws(() => confusionMatrix([0], [0, 1], 3), /1 true labels but 2 predictions/);
});

test('metrics of a hand-computed 3-class case', () => {
  const m = classificationMetrics(yTrue, yPred, labels);
  close(m.accuracy, 5 / 9, 'accuracy');
  close(m.uar, (1 / 3 + 1 / 2 + 3 / 4) / 3, 'UAR');
  close(m.macroF1, (2 / 5 + 2 / 5 + 3 / 4) / 3, 'macro-F1');
  const expected = {
    a: { precision: 1 / 2, recall: 1 / 3, f1: 2 / 5, support: 3 },
    b: { precision: 1 / 3, recall: 1 / 2, f1: 2 / 5, support: 2 },
    c: { precision: 3 / 4, recall: 3 / 4, f1: 3 / 4, support: 4 },
  };
  for (const [label, e] of Object.entries(expected)) {
    const c = m.perClass[label]!;
    close(c.precision, e.precision, `${label} precision`);
    close(c.recall, e.recall, `${label} recall`);
    close(c.f1, e.f1, `${label} f1`);
    close(c.accuracy, e.recall, `${label} accuracy (= recall)`);
    assert.equal(c.support, e.support);
  }
  assert.deepEqual(m.labels, labels);
  assert.equal(m.samples, 9);
  assert.deepEqual(m.notes, []);
});

test('zero-support and never-predicted classes give finite values and notes', () => {
  // true a a b b, pred a c b b: c has no samples but one prediction, d neither.
  const m = classificationMetrics([0, 0, 1, 1], [0, 2, 1, 1], ['a', 'b', 'c', 'd']);
  close(m.accuracy, 3 / 4, 'accuracy');
  close(m.uar, (1 / 2 + 1) / 2, 'UAR over classes present');
  close(m.macroF1, (2 / 3 + 1 + 0) / 3, 'macro-F1 over classes seen as true or predicted');
  assert.deepEqual(m.perClass.c, { precision: 0, recall: 0, f1: 0, support: 0, accuracy: 0 });
  assert.deepEqual(m.perClass.d, { precision: 0, recall: 0, f1: 0, support: 0, accuracy: 0 });
  assert.equal(m.notes.length, 2);
  assert.match(m.notes.join('\n'), /^c: no samples but predicted 1×/m);
  assert.match(m.notes.join('\n'), /^d: no samples and never predicted/m);
  assert.ok(!JSON.stringify(m).includes('null'), 'no NaN (serialised as null) anywhere');

  const neverPredicted = classificationMetrics([0, 1, 1], [0, 0, 0], ['a', 'b']);
  assert.equal(neverPredicted.perClass.b!.precision, 0);
  assert.match(neverPredicted.notes[0]!, /b: never predicted/);
});

test('empty split yields zeros, not NaN', () => {
  const m = classificationMetrics([], [], ['a', 'b']);
  assert.equal(m.accuracy, 0);
  assert.equal(m.uar, 0);
  assert.equal(m.macroF1, 0);
});

test('argmax: first maximum wins, NaN never wins, size is checked', () => {
  assert.deepEqual([...argmaxRows([0.2, 0.5, 0.3, 0.4, 0.4, 0.2, NaN, 0.1, 0.9], 3, 3)], [1, 0, 2]);
  assert.throws(() => argmaxRows([0.1, 0.9, 0.3], 2, 2), /expected 2×2=4 values/);
});

test('per-group accuracy', () => {
  const g = groupAccuracy([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], ['02', '01', '01', '02', '03']);
  assert.deepEqual(Object.keys(g), ['01', '02', '03']);
  assert.deepEqual(g['01'], { accuracy: 0.5, correct: 1, support: 2 });
  assert.deepEqual(g['02'], { accuracy: 0.5, correct: 1, support: 2 });
  assert.deepEqual(g['03'], { accuracy: 1, correct: 1, support: 1 });
});

test('random cases: metrics agree with their definitions computed another way', () => {
  const rng = new Rng('metrics-crosscheck');
  for (let trial = 0; trial < 50; trial++) {
    const k = 2 + rng.int(7);
    const n = 1 + rng.int(200);
    const names = Array.from({ length: k }, (_, i) => `class${i}`);
    const probs = new Float32Array(n * k).map(() => rng.next());
    const truth = Int32Array.from({ length: n }, () => rng.int(k));
    const speakers = Array.from({ length: n }, () => String(rng.int(4)));
    const m = evaluateSplits({ validation: { probabilities: probs, yTrue: truth, speakers } }, names).validation!;
    // Predictions recomputed independently of argmaxRows.
    const pred = Array.from({ length: n }, (_, i) => {
      const row = Array.from(probs.subarray(i * k, (i + 1) * k));
      return row.indexOf(Math.max(...row));
    });
    const correct = pred.filter((p, i) => p === truth[i]).length;
    close(m.accuracy, correct / n, 'accuracy');
    assert.equal(m.confusionMatrix.flat().reduce((a, b) => a + b, 0), n, 'matrix sums to n');
    const present: number[] = [];
    const f1s: number[] = [];
    names.forEach((name, c) => {
      const tp = pred.filter((p, i) => p === c && truth[i] === c).length;
      const support = truth.filter((t) => t === c).length;
      const predicted = pred.filter((p) => p === c).length;
      const cls = m.perClass[name]!;
      assert.equal(cls.support, support);
      assert.equal(m.confusionMatrix[c]!.reduce((a, b) => a + b, 0), support, 'row sum = support');
      close(cls.precision, predicted ? tp / predicted : 0, 'precision');
      close(cls.recall, support ? tp / support : 0, 'recall');
      if (support) present.push(tp / support);
      if (support || predicted) f1s.push(cls.f1);
    });
    close(m.uar, present.reduce((a, b) => a + b, 0) / present.length, 'UAR = mean recall');
    close(m.macroF1, f1s.reduce((a, b) => a + b, 0) / f1s.length, 'macro-F1 = mean F1');
    const speakerCorrect = Object.values(m.perSpeaker!).reduce((a, g) => a + g.correct, 0);
    assert.equal(speakerCorrect, correct, 'per-speaker counts add up');
  }
});

test('classification report in sklearn layout', () => {
  const m = classificationMetrics(yTrue, yPred, labels);
  const text = formatClassificationReport(m, 3);
  const rows = new Map(text.split('\n').filter((l) => l.trim()).map((l) => {
    const cells = l.trim().split(/\s{2,}|\s(?=\d)/);
    return [cells[0]!, cells.slice(1)] as const;
  }));
  assert.match(text.split('\n')[0]!, /^\s+precision\s+recall\s+f1-score\s+support$/);
  assert.deepEqual(rows.get('a'), ['0.500', '0.333', '0.400', '3']);
  assert.deepEqual(rows.get('b'), ['0.333', '0.500', '0.400', '2']);
  assert.deepEqual(rows.get('c'), ['0.750', '0.750', '0.750', '4']);
  assert.deepEqual(rows.get('accuracy'), ['0.556', '9']);
  // macro avg precision (1/2+1/3+3/4)/3 = 0.528; weighted precision (1/2·3 + 1/3·2 + 3/4·4)/9 = 0.574, weighted F1 (0.4·3 + 0.4·2 + 0.75·4)/9 = 0.556.
  assert.deepEqual(rows.get('macro avg'), ['0.528', '0.528', '0.517', '9']);
  assert.deepEqual(rows.get('weighted avg'), ['0.574', '0.556', '0.556', '9']);
  assert.deepEqual(rows.get('UAR'), ['0.528', '9']);
});
