import type { StageKind } from '../engine/stage.js';
import { runSummary, type SummarizeParams } from '../report/summary.js';

/**
 * summarize: fans in every instance of the evaluate stage it needs (the folds of a matrix) and
 * writes metrics.json (per split and metric: mean, std, min, max, per-fold values, and the
 * pooled confusion matrix) and report.html.
 */
export const summarizeKind: StageKind<SummarizeParams> = {
  kind: 'summarize',
  description: 'Aggregate every instance of a matrix evaluate stage (e.g. the folds of a cross-validation): mean, std, min, max and per-fold metrics, the pooled confusion matrix, report.html.',
  module: import.meta.url,
  fanIn: true,
  inputs: [{ kind: 'evaluate', description: "every instance's metrics.json" }],
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      splits: {
        type: 'array',
        items: { type: 'string', enum: ['test', 'validation'] },
        minItems: 1,
        uniqueItems: true,
        default: ['test', 'validation'],
        description: 'Splits to aggregate (each one every instance evaluated).',
      },
      plots: { type: 'boolean', default: true, description: 'Render the spread and pooled confusion plots (SVG) into the report.' },
    },
  },
  run: runSummary,
};
