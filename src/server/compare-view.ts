/**
 * The `compare --html` page: the comparison table and, for every varied parameter, a plot of
 * the sort metric against it (vega-lite → SVG through plots.ts). Self-contained, no scripts.
 */
import type { Comparison } from '../engine/experiment.js';
import { metricVsParamSpec } from '../report/experiment-plots.js';
import { escapeHtml } from '../report/html.js';
import { renderSvg } from '../report/plots.js';

/** A table cell: numbers to 4 significant digits, the rest as JSON (strings bare). */
export function cell(v: unknown): string {
  if (v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** `stage.x_mean` shown with its `stage.x_std` as "mean ± std" in one column. */
export function metricColumns(c: Comparison): { key: string; title: string; std?: string }[] {
  const cols: { key: string; title: string; std?: string }[] = [];
  for (const k of c.metrics) {
    if (k.endsWith('_std') && c.metrics.includes(k.slice(0, -4) + '_mean')) continue;
    const std = k.endsWith('_mean') && c.metrics.includes(k.slice(0, -5) + '_std') ? k.slice(0, -5) + '_std' : undefined;
    cols.push({ key: k, title: std ? `${k.slice(0, -5)} (mean ± std)` : k, ...(std ? { std } : {}) });
  }
  return cols;
}

/** Header and rows of the comparison table (also what the CLI prints). */
export function comparisonTable(c: Comparison): { header: string[]; rows: string[][] } {
  const cols = metricColumns(c);
  // The experiment column only when the runs come from more than one (or from none and some).
  const exp = new Set(c.runs.map((r) => r.experiment ?? '')).size > 1;
  const header = ['run', ...(exp ? ['experiment'] : []), ...c.varied, ...cols.map((m) => m.title)];
  const rows = c.runs.map((r) => [
    r.run.slice(0, 12),
    ...(exp ? [r.experiment ?? ''] : []),
    ...c.varied.map((k) => cell(r.params[k])),
    ...cols.map((m) => {
      const v = r.metrics[m.key];
      const sd = m.std ? r.metrics[m.std] : undefined;
      return typeof v === 'number' && typeof sd === 'number' ? `${cell(v)} ± ${cell(sd)}` : cell(v ?? undefined);
    }),
  ]);
  return { header, rows };
}

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.5em}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .6em;border:1px solid #ddd;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f6f6f6;text-align:left}th.param{background:#eef4fb}th.metric{background:#f3f9ee}th.sorted{text-decoration:underline}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1em}figure{margin:0}.plot{max-width:100%;height:auto}.hint{color:#666;font-size:.9em}code{background:#f6f6f6;padding:0 .2em}
`;

export async function compareHtml(c: Comparison): Promise<string> {
  const { header, rows } = comparisonTable(c);
  const nParams = c.varied.length;
  const lead = header.length - nParams - metricColumns(c).length;
  const sortedTitle = metricColumns(c).find((m) => m.key === c.sortedBy || m.std === c.sortedBy)?.title;
  const th = header
    .map((h, i) => {
      const cls = i < lead ? '' : i < lead + nParams ? 'param' : 'metric';
      return `<th class="${cls}${h === sortedTitle ? ' sorted' : ''}">${escapeHtml(h)}</th>`;
    })
    .join('');
  const body = rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`).join('\n');
  const plots: string[] = [];
  if (c.sortedBy) {
    const std = c.sortedBy.endsWith('_mean') ? c.sortedBy.slice(0, -5) + '_std' : undefined;
    for (const p of c.varied) {
      // With two varied parameters, the other one colours the points.
      const other = c.varied.length === 2 ? c.varied.find((v) => v !== p) : undefined;
      const pts = c.runs
        .filter((r) => typeof r.metrics[c.sortedBy!] === 'number')
        .map((r) => {
          const x = r.params[p];
          const sd = std ? r.metrics[std] : undefined;
          return {
            run: r.run.slice(0, 12),
            x: typeof x === 'number' ? x : cell(x),
            y: r.metrics[c.sortedBy!] as number,
            ...(typeof sd === 'number' ? { std: sd } : {}),
            ...(other ? { group: cell(r.params[other]) } : {}),
          };
        });
      if (!pts.length) continue;
      const svg = await renderSvg(metricVsParamSpec(pts, p, c.sortedBy, other));
      plots.push(`<figure><img class="plot" alt="${escapeHtml(`${c.sortedBy} against ${p}`)}" src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}"></figure>`);
    }
  }
  const exps = [...new Set(c.runs.map((r) => r.experiment).filter(Boolean))] as string[];
  const title = `emopipe compare — ${exps.length ? exps.join(', ') : `${c.runs.length} runs`}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<p>${c.runs.length} runs of ${escapeHtml([...new Set(c.runs.map((r) => r.pipeline))].join(', '))}; sorted by <code>${escapeHtml(c.sortedBy ?? '(no metric)')}</code> ${c.ascending ? 'ascending' : 'descending'}.
${nParams ? '' : 'No parameter differs between these runs.'}</p>
<h2>Runs</h2>
<div class="scroll"><table><thead><tr>${th}</tr></thead><tbody>
${body}
</tbody></table></div>
<p class="hint">Blue columns: the parameters that differ between the runs; green: metrics (± the standard deviation over a matrix's instances where the run summarised folds).</p>
${plots.length ? `<h2>${escapeHtml(c.sortedBy ?? '')} against each varied parameter</h2><div class="plots">${plots.join('\n')}</div>` : ''}
</body></html>
`;
}
