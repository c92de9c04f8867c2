/**
 * Classification metrics for one evaluated split. Pure functions over class indices; no I/O.
 *
 * Definitions (they match scikit-learn with `zero_division=0`):
 * - confusion matrix: rows = true class, columns = predicted class, both in `labels` order.
 * - precision_c = tp / (tp + fp); 0 when the class was never predicted.
 * - recall_c = tp / support_c; 0 when the class has no true samples.
 * - f1_c = 2 p r / (p + r); 0 when p + r = 0.
 * - per-class accuracy = recall (diagonal / row total), as the reference project defines it.
 * - UAR (unweighted average recall, = sklearn balanced_accuracy_score) = mean recall over the
 *   classes that occur in the split; a class with no true samples has no recall to average.
 * - macro-F1 (= sklearn f1_score(average='macro') with its default labels) = mean F1 over the
 *   classes that occur as a true or a predicted label; predicting an absent class still costs.
 * Every value is a finite number, so metrics.json never holds NaN/null where a number belongs;
 * the ill-defined cases are listed in `notes`.
 */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Number of true samples of the class. */
  support: number;
  /** Diagonal / row total: identical to recall (the reference project's "per-class accuracy"). */
  accuracy: number;
}

export interface SplitMetrics {
  accuracy: number;
  uar: number;
  macroF1: number;
  perClass: Record<string, ClassMetrics>;
  /** confusionMatrix[true][predicted], in `labels` order. */
  confusionMatrix: number[][];
  labels: string[];
  /** Number of evaluated samples. */
  samples: number;
  /** Human-readable remarks on ill-defined values (zero support, never predicted). */
  notes: string[];
}

export interface GroupAccuracy {
  accuracy: number;
  correct: number;
  support: number;
}

/** Index of the largest probability in each of the n rows of a row-major [n, classes] array. */
export function argmaxRows(probabilities: ArrayLike<number>, n: number, classes: number): Int32Array {
  if (probabilities.length !== n * classes) {
    throw new Error(`argmaxRows: expected ${n}×${classes}=${n * classes} values, got ${probabilities.length}`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = probabilities[i * classes]!;
    for (let c = 1; c < classes; c++) {
      const v = probabilities[i * classes + c]!;
      // Ties keep the lowest index (as numpy.argmax); NaN never wins.
      if (v > bestValue || (Number.isNaN(bestValue) && !Number.isNaN(v))) {
        best = c;
        bestValue = v;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Counts of (true, predicted) pairs; throws on an index outside [0, classes). */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classes: number): number[][] {
  if (yTrue.length !== yPred.length) {
    throw new Error(`confusionMatrix: ${yTrue.length} true labels but ${yPred.length} predictions`);
  }
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]!;
    const p = yPred[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= classes) throw new Error(`confusionMatrix: true label ${t} at row ${i} is not a class index`);
    if (!Number.isInteger(p) || p < 0 || p >= classes) throw new Error(`confusionMatrix: prediction ${p} at row ${i} is not a class index`);
    m[t]![p]!++;
  }
  return m;
}

const ratio = (num: number, den: number): number => (den > 0 ? num / den : 0);
const mean = (xs: number[]): number => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** All metrics of one split from true and predicted class indices. */
export function classificationMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: string[]): SplitMetrics {
  if (new Set(labels).size !== labels.length) throw new Error(`classificationMetrics: duplicate class names in ${JSON.stringify(labels)}`);
  const k = labels.length;
  const cm = confusionMatrix(yTrue, yPred, k);
  const n = yTrue.length;
  const notes: string[] = [];
  const perClass: Record<string, ClassMetrics> = {};
  const recalls: number[] = [];
  const f1s: number[] = [];
  let correct = 0;
  for (let c = 0; c < k; c++) {
    const tp = cm[c]![c]!;
    const support = cm[c]!.reduce((a, b) => a + b, 0);
    let predicted = 0;
    for (let r = 0; r < k; r++) predicted += cm[r]![c]!;
    correct += tp;
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    const f1 = ratio(2 * precision * recall, precision + recall);
    perClass[labels[c]!] = { precision, recall, f1, support, accuracy: recall };
    if (support > 0) recalls.push(recall);
    if (support > 0 || predicted > 0) f1s.push(f1);
    if (support === 0 && predicted === 0) notes.push(`${labels[c]}: no samples and never predicted; left out of UAR and macro-F1 (its values are 0 by convention)`);
    else if (support === 0) notes.push(`${labels[c]}: no samples but predicted ${predicted}×; recall set to 0 and left out of UAR, F1 0 counts in macro-F1`);
    else if (predicted === 0) notes.push(`${labels[c]}: never predicted; precision set to 0`);
  }
  return {
    accuracy: ratio(correct, n),
    uar: mean(recalls),
    macroF1: mean(f1s),
    perClass,
    confusionMatrix: cm,
    labels: [...labels],
    samples: n,
    notes,
  };
}

/** Accuracy per group (e.g. speaker), groups in sorted order. */
export function groupAccuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, groups: readonly string[]): Record<string, GroupAccuracy> {
  if (groups.length !== yTrue.length || yPred.length !== yTrue.length) {
    throw new Error(`groupAccuracy: ${yTrue.length} labels, ${yPred.length} predictions, ${groups.length} groups`);
  }
  const counts = new Map<string, { correct: number; support: number }>();
  for (let i = 0; i < groups.length; i++) {
    const g = counts.get(groups[i]!) ?? { correct: 0, support: 0 };
    g.support++;
    if (yTrue[i] === yPred[i]) g.correct++;
    counts.set(groups[i]!, g);
  }
  const out: Record<string, GroupAccuracy> = {};
  for (const key of [...counts.keys()].sort()) {
    const g = counts.get(key)!;
    out[key] = { accuracy: g.correct / g.support, correct: g.correct, support: g.support };
  }
  return out;
}

/** Per-split inputs of {@link evaluateSplits}. */
export interface SplitPredictions {
  /** Row-major [n, labels.length] class probabilities (or any scores: only the argmax is used). */
  probabilities: ArrayLike<number>;
  /** True class index per row, into the shared `labels`. */
  yTrue: ArrayLike<number>;
  /** Speaker id per row, for the per-speaker table; omitted → no table. */
  speakers?: readonly string[];
}

export interface SplitEvaluation extends SplitMetrics {
  /** Accuracy per speaker, when speakers were given. */
  perSpeaker?: Record<string, GroupAccuracy>;
}

/** Metrics for every split given, in the given key order; `labels` orders the model's outputs. */
export function evaluateSplits(splits: Record<string, SplitPredictions>, labels: string[]): Record<string, SplitEvaluation> {
  const out: Record<string, SplitEvaluation> = {};
  for (const [name, split] of Object.entries(splits)) {
    const n = split.yTrue.length;
    const yPred = argmaxRows(split.probabilities, n, labels.length);
    const m: SplitEvaluation = classificationMetrics(split.yTrue, yPred, labels);
    if (split.speakers) m.perSpeaker = groupAccuracy(split.yTrue, yPred, split.speakers);
    out[name] = m;
  }
  return out;
}

/**
 * A text table in the layout of sklearn's classification_report: per-class precision, recall,
 * F1 and support, then accuracy, macro and support-weighted averages, and UAR.
 */
export function formatClassificationReport(m: SplitMetrics, digits = 2): string {
  const names = [...m.labels, 'weighted avg', 'macro avg'];
  const width = Math.max(...names.map((s) => s.length), digits);
  const col = Math.max(9, digits + 2);
  const num = (v: number) => v.toFixed(digits).padStart(col);
  const int = (v: number) => String(v).padStart(col);
  const lines: string[] = [];
  lines.push(' '.repeat(width) + ['precision', 'recall', 'f1-score', 'support'].map((h) => h.padStart(col)).join(' '));
  lines.push('');
  for (const label of m.labels) {
    const c = m.perClass[label]!;
    lines.push(label.padStart(width) + [num(c.precision), num(c.recall), num(c.f1), int(c.support)].join(' '));
  }
  lines.push('');
  const total = m.samples;
  const classes = m.labels.map((l) => m.perClass[l]!);
  const weighted = (key: 'precision' | 'recall' | 'f1') => ratio(classes.reduce((a, c) => a + c[key] * c.support, 0), total);
  // sklearn averages its "macro avg" row over the classes seen as true or predicted labels.
  const seen = classes.filter((cls, c) => cls.support > 0 || m.confusionMatrix.some((row) => row[c]! > 0));
  const macro = (key: 'precision' | 'recall' | 'f1') => mean(seen.map((c) => c[key]));
  const blank = ' '.repeat(col);
  lines.push('accuracy'.padStart(width) + [blank, blank, num(m.accuracy), int(total)].join(' '));
  lines.push('macro avg'.padStart(width) + [num(macro('precision')), num(macro('recall')), num(macro('f1')), int(total)].join(' '));
  lines.push('weighted avg'.padStart(width) + [num(weighted('precision')), num(weighted('recall')), num(weighted('f1')), int(total)].join(' '));
  lines.push('UAR'.padStart(width) + [blank, blank, num(m.uar), int(total)].join(' '));
  if (m.notes.length > 0) lines.push('', ...m.notes.map((note) => `note: ${note}`));
  return lines.join('\n') + '\n';
}
