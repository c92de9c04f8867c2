/**
 * summarize: fans in every instance of the evaluate stage it needs (the folds of a matrix), reads
 * each instance's metrics.json, aggregates (report/aggregate.ts) and writes metrics.json (per split
 * and metric: mean, std, min, max, per-fold values, and the pooled confusion matrix) and report.html.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext, StageInput, StageKind, StageResult } from '../engine/stage.js';
import { aggregateInstances, AGGREGATED_METRICS, type EvaluatedInstance, type SplitSummary } from '../report/aggregate.js';
import { spreadSpec } from '../report/experiment-plots.js';
import { confusionSpec, renderSvg } from '../report/plots.js';
import { pct, pm, summaryHtml } from '../report/summary.js';
import { EmopipeError } from '../util/errors.js';
import { Enum, Params, Type, type Static } from './params.js';

export const summarizeParamsSchema = Params({
  splits: Type.Array(Enum(['test', 'validation']), {
    minItems: 1,
    uniqueItems: true,
    default: ['test', 'validation'],
    description: 'Splits to aggregate (each one every instance evaluated).',
  }),
  plots: Type.Boolean({ default: true, description: 'Render the spread and pooled confusion plots (SVG) into the report.' }),
});

export type SummarizeParams = Static<typeof summarizeParamsSchema>;


/** "fold=2" for a matrix instance, else the stage name. */
export function instanceLabel(input: StageInput): string {
  const m = input.matrix;
  if (!m || !Object.keys(m).length) return input.name;
  return Object.entries(m).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(',');
}

function readInstance(input: StageInput, splits: string[]): EvaluatedInstance & { synthetic: boolean } {
  const file = join(input.dir, 'metrics.json');
  if (!existsSync(file)) throw new EmopipeError('E_INPUT_MISSING', `${input.name}: metrics.json not found`, { file });
  let doc: Record<string, any>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', `${input.name}: metrics.json is not valid JSON: ${(e as Error).message}`, { file });
  }
  const out: EvaluatedInstance['splits'] = {};
  for (const s of splits) {
    const m = doc[s];
    if (!m) continue;
    if (typeof m.accuracy !== 'number' || !Array.isArray(m.labels) || !Array.isArray(m.confusionMatrix)) {
      throw new EmopipeError('E_INPUT_MISSING', `${input.name}: section '${s}' lacks accuracy/labels/confusionMatrix`, { file });
    }
    out[s] = m;
  }
  return { label: instanceLabel(input), splits: out, synthetic: doc.synthetic === true };
}


export async function runSummary(ctx: StageContext<SummarizeParams>): Promise<StageResult> {
  const inputs = ctx.inputs.filter((i) => i.kind === 'evaluate');
  if (!inputs.length) throw new EmopipeError('E_INPUT_MISSING', `stage ${ctx.stageName} got no evaluate inputs`);
  const read = inputs.map((i) => readInstance(i, ctx.params.splits));
  let summary: Record<string, SplitSummary>;
  try {
    summary = aggregateInstances(read);
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', (e as Error).message);
  }
  if (!Object.keys(summary).length) {
    throw new EmopipeError('E_INPUT_MISSING', `no split of ${ctx.params.splits.join('/')} was evaluated by every input (${inputs.map((i) => i.name).join(', ')})`);
  }
  const synthetic = read.some((r) => r.synthetic);
  const instances = inputs.map((i, n) => ({ stage: i.name, label: read[n]!.label, matrix: i.matrix ?? {} }));
  writeFileSync(join(ctx.outDir, 'metrics.json'), JSON.stringify({ instances, synthetic, ...summary }, null, 2) + '\n');

  const svgs: Record<string, string> = {};
  if (ctx.params.plots) {
    for (const [split, s] of Object.entries(summary)) {
      const rows = AGGREGATED_METRICS.flatMap((metric) => Object.entries(s[metric].perFold).map(([fold, value]) => ({ metric, fold, value })));
      svgs[`spread_${split}`] = await renderSvg(spreadSpec(rows, `${split}: spread over ${inputs.length} instances`));
      svgs[`pooled_${split}`] = await renderSvg(confusionSpec(s.pooled, `Pooled confusion matrix — ${split} (n=${s.pooled.samples})`));
    }
    for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(ctx.outDir, `${name}.svg`), svg);
  }
  writeFileSync(join(ctx.outDir, 'report.html'), summaryHtml(ctx.stageName, synthetic, instances.map((i) => i.label), summary, svgs));

  const metrics: Record<string, number> = { instances: inputs.length };
  for (const [split, s] of Object.entries(summary)) {
    const prefix = split === 'validation' ? '' : `${split}_`;
    for (const m of AGGREGATED_METRICS) {
      metrics[`${prefix}${m}_mean`] = s[m].mean;
      metrics[`${prefix}${m}_std`] = s[m].std;
    }
  }
  const line = Object.entries(summary)
    .map(([split, s]) => `${split}: accuracy ${pm(s.accuracy)}, UAR ${pm(s.uar)}, macro-F1 ${pm(s.macroF1)} (pooled accuracy ${pct(s.pooled.accuracy)}, n=${s.pooled.samples})`)
    .join('; ');
  const text = `${inputs.length} instances — ${line}`;
  for (const l of text.split('; ')) ctx.log.info(l);
  return { metrics, summary: synthetic ? `SYNTHETIC — ${text}` : text, report: 'report.html' };
}

export const summarizeKind: StageKind<SummarizeParams> = {
  kind: 'summarize',
  description: 'Aggregate every instance of a matrix evaluate stage (e.g. the folds of a cross-validation): mean, std, min, max and per-fold metrics, the pooled confusion matrix, report.html.',
  module: import.meta.url,
  fanIn: true,
  inputs: [{ kind: 'evaluate', description: "every instance's metrics.json" }],
  paramsSchema: summarizeParamsSchema,
  run: runSummary,
};
