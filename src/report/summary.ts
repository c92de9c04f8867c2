/**
 * The summarize stage's work: read every evaluate instance's metrics.json, aggregate
 * (aggregate.ts) and write metrics.json and a self-contained report.html with the per-fold
 * table, the spread plot and the pooled confusion matrix.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageContext, StageInput, StageResult } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';
import { aggregateInstances, AGGREGATED_METRICS, type EvaluatedInstance, type SplitSummary } from './aggregate.js';
import { spreadSpec } from './experiment-plots.js';
import { confusionTable, escapeHtml } from './html.js';
import { confusionSpec, renderSvg } from './plots.js';

export interface SummarizeParams {
  splits: ('test' | 'validation')[];
  plots: boolean;
}

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

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const pm = (s: { mean: number; std: number }) => `${pct(s.mean)} ± ${(s.std * 100).toFixed(1)}`;

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

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
.banner{background:#b00020;color:#fff;font-weight:bold;padding:.8em 1em;border-radius:4px}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.8em 1.2em;min-width:200px}
.big{font-size:1.8em;font-weight:bold}.sub{color:#666}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .6em;border:1px solid #ddd}th{background:#f6f6f6;text-align:left}
td{text-align:right;font-variant-numeric:tabular-nums}tr.agg th,tr.agg td{background:#fafafa;font-weight:bold}
table.confusion td{text-align:center;min-width:2.5em}td.diag{font-weight:bold;outline:1px solid #333}
.plot{max-width:100%;height:auto;display:block;margin:.5em 0}.hint{color:#666;font-size:.9em}
`;

function svgImage(svg: string, alt: string): string {
  return `<img class="plot" alt="${escapeHtml(alt)}" src="data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}">`;
}

/** The summary report: cards (mean ± std), per-fold table with mean/std/min/max rows, spread plot, pooled confusion matrix. */
export function summaryHtml(title: string, synthetic: boolean, labels: string[], summary: Record<string, SplitSummary>, svgs: Record<string, string>): string {
  const cards = Object.entries(summary).map(([split, s]) => `<div class="card"><h3>${escapeHtml(split)}</h3>
<div class="big">${pm(s.accuracy)}</div><div class="sub">accuracy, mean ± std over ${labels.length}</div>
<div>UAR ${pm(s.uar)}</div><div>macro-F1 ${pm(s.macroF1)}</div><div class="sub">pooled: accuracy ${pct(s.pooled.accuracy)}, UAR ${pct(s.pooled.uar)}, n=${s.pooled.samples}</div></div>`);
  const sections = Object.entries(summary).map(([split, s]) => {
    const head = `<tr><th>instance</th>${AGGREGATED_METRICS.map((m) => `<th>${m}</th>`).join('')}<th>samples</th></tr>`;
    const rows = labels.map((l) => `<tr><th>${escapeHtml(l)}</th>${AGGREGATED_METRICS.map((m) => `<td>${pct(s[m].perFold[l]!)}</td>`).join('')}<td>${s.samples[l]}</td></tr>`);
    const agg = (['mean', 'std', 'min', 'max'] as const).map(
      (k) => `<tr class="agg"><th>${k}</th>${AGGREGATED_METRICS.map((m) => `<td>${k === 'std' ? (s[m].std * 100).toFixed(1) : pct(s[m][k])}</td>`).join('')}<td></td></tr>`,
    );
    const pooled = `<tr class="agg"><th>pooled</th>${AGGREGATED_METRICS.map((m) => `<td>${pct(s.pooled[m])}</td>`).join('')}<td>${s.pooled.samples}</td></tr>`;
    return `<section id="split-${escapeHtml(split)}"><h2>${escapeHtml(split)}</h2>
<h3>Per instance</h3><table class="folds">${head}${rows.join('')}${agg.join('')}${pooled}</table>
<p class="hint">std is the population standard deviation over instances, in percentage points. "pooled" scores every instance's clips together.</p>
${svgs[`spread_${split}`] ? `<h3>Spread</h3>${svgImage(svgs[`spread_${split}`]!, `spread of ${split} metrics`)}` : ''}
<h3>Pooled confusion matrix</h3><p class="hint">Rows: true class; columns: predicted class; every instance's held-out clips counted once.</p>
${svgs[`pooled_${split}`] ? svgImage(svgs[`pooled_${split}`]!, `pooled confusion matrix (${split})`) : ''}
${confusionTable(s.pooled)}</section>`;
  });
  const banner = synthetic ? '<div class="banner" role="alert">SYNTHETIC DATA — not a real result.</div>' : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`emopipe summary — ${title}`)}</title><style>${CSS}</style></head>
<body>${banner}<h1>${escapeHtml(`emopipe summary — ${title}`)}</h1>
<div class="cards">${cards.join('')}</div>
${sections.join('\n')}
</body></html>
`;
}
