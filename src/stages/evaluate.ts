import type { StageKind } from '../engine/stage.js';
import { loadClassifier } from '../model/infer.js';
import { runEvaluation, type EvaluateParams } from '../report/evaluation.js';

/**
 * evaluate: run the trained model on the held-out clips (validation, and test when the split
 * has one; augmented copies excluded) and write metrics.json, classification_report.txt,
 * predictions.csv, confusion/curve plots (SVG, PNG) and a self-contained report.html.
 */
export const evaluateKind: StageKind<EvaluateParams> = {
  kind: 'evaluate',
  description: 'Score the trained model on validation/test clips: metrics.json, plots and a self-contained report.html',
  module: import.meta.url,
  inputs: [
    { kind: 'train', description: 'model.onnx, labels.json, history.json, train.json' },
    { kind: 'mfcc', description: 'features.npy and index.json (rows with split validation/test and augmentation null are scored)' },
  ],
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      splits: {
        type: 'array',
        items: { type: 'string', enum: ['validation', 'test'] },
        minItems: 1,
        uniqueItems: true,
        default: ['validation', 'test'],
        description: 'Splits to score; a split with no rows (e.g. test under a random split) is skipped.',
      },
      batch_size: {
        type: 'integer',
        minimum: 1,
        maximum: 65536,
        default: 256,
        description: 'Rows per inference call: memory vs. call overhead. Kept in the fingerprint because batched kernels may round differently.',
      },
      plots: { type: 'boolean', default: true, description: 'Render the confusion heatmaps and training curves (SVG) into the report.' },
      png: { type: 'boolean', default: true, description: 'Also write PNG copies of the plots (needs system fonts; skipped with a warning otherwise).' },
    },
  },
  run: (ctx) => runEvaluation(ctx, loadClassifier),
};
