/**
 * The summarize stage's report: a self-contained report.html with the per-fold table, the spread
 * plot and the pooled confusion matrix (the stage itself is stages/summarize.ts).
 */
import { AGGREGATED_METRICS, type SplitSummary } from './aggregate.js';
import { confusionTable, escapeHtml } from './html.js';

/** A share as a percentage, and mean ± std of shares. */
export const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
export const pm = (s: { mean: number; std: number }) => `${pct(s.mean)} ± ${(s.std * 100).toFixed(1)}`;

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
