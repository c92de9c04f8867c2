/**
 * The evaluation report as one self-contained HTML file: inline CSS, plots embedded as data:
 * URIs, no scripts and no external resources, so it opens from disk and can be mailed around.
 * Output depends only on the input (no clock), so the same run gives byte-identical reports.
 */
import type { GroupAccuracy, SplitEvaluation } from './metrics.js';

export interface ReportSplit {
  /** Split name as in metrics.json: 'validation' | 'test'. */
  name: string;
  metrics: SplitEvaluation;
  /** Confusion heatmap as an SVG document (optional: the HTML table is always there). */
  confusionSvg?: string;
  /** sklearn-style text report (formatClassificationReport). */
  classificationReport?: string;
}

export interface ReportInput {
  title: string;
  /** Shows a banner: the numbers come from synthetic data, not a real result. */
  synthetic: boolean;
  /** Key/value facts about the run (stage, model, dataset sizes ...), shown in order. */
  runInfo: [string, string | number | boolean | null][];
  splits: ReportSplit[];
  /** Training curves as an SVG document. */
  curvesSvg?: string;
  /** Free-form remarks shown at the end (e.g. "PNG skipped: no fonts"). */
  notes?: string[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const fixed = (v: number) => v.toFixed(3);

function svgImage(svg: string, alt: string): string {
  const uri = `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
  return `<img class="plot" alt="${escapeHtml(alt)}" src="${uri}">`;
}

/** Sequential blue scale for a fraction in [0, 1] (close to vega's "blues"). */
function cellColour(fraction: number): { bg: string; fg: string } {
  const f = Math.min(1, Math.max(0, fraction));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * f);
  return { bg: `rgb(${mix(247, 8)},${mix(251, 48)},${mix(255, 107)})`, fg: f > 0.5 ? '#fff' : '#000' };
}

function summaryCards(splits: ReportSplit[]): string {
  const cards = splits.map(({ name, metrics: m }) => `
    <div class="card"><h3>${escapeHtml(name)}</h3>
      <div class="big">${pct(m.accuracy)}</div><div class="sub">accuracy</div>
      <table class="kv"><tr><th>UAR</th><td>${pct(m.uar)}</td></tr><tr><th>macro-F1</th><td>${fixed(m.macroF1)}</td></tr>
      <tr><th>samples</th><td>${m.samples}</td></tr></table></div>`);
  return `<div class="cards">${cards.join('')}</div>`;
}

/** The confusion matrix as an HTML table shaded like the heatmap (readable without the plot). */
export function confusionTable(m: Pick<SplitEvaluation, 'labels' | 'confusionMatrix'>): string {
  const head = m.labels.map((l) => `<th class="rot">${escapeHtml(l)}</th>`).join('');
  const rows = m.labels.map((label, r) => {
    const row = m.confusionMatrix[r]!;
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((count, c) => {
      const { bg, fg } = cellColour(total > 0 ? count / total : 0);
      const diag = r === c ? ' diag' : '';
      return `<td class="cm${diag}" style="background:${bg};color:${fg}">${count}</td>`;
    });
    return `<tr><th>${escapeHtml(label)}</th>${cells.join('')}<td class="total">${total}</td></tr>`;
  });
  return `<table class="confusion"><thead><tr><th class="corner">true \\ predicted</th>${head}<th>total</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
}

function perClassTable(m: SplitEvaluation): string {
  const rows = m.labels.map((label) => {
    const c = m.perClass[label]!;
    return `<tr><th>${escapeHtml(label)}</th><td>${fixed(c.precision)}</td><td>${fixed(c.recall)}</td><td>${fixed(c.f1)}</td><td>${pct(c.accuracy)}</td><td>${c.support}</td></tr>`;
  });
  return `<table class="num per-class"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>accuracy</th><th>support</th></tr></thead>
<tbody>${rows.join('\n')}</tbody>
<tfoot><tr><th>overall</th><td></td><td>UAR ${fixed(m.uar)}</td><td>macro ${fixed(m.macroF1)}</td><td>${pct(m.accuracy)}</td><td>${m.samples}</td></tr></tfoot></table>`;
}

function perSpeakerTable(perSpeaker: Record<string, GroupAccuracy>): string {
  const rows = Object.entries(perSpeaker).map(
    ([speaker, g]) => `<tr><th>${escapeHtml(speaker)}</th><td>${pct(g.accuracy)}</td><td>${g.correct}</td><td>${g.support}</td></tr>`,
  );
  return `<table class="num per-speaker"><thead><tr><th>speaker</th><th>accuracy</th><th>correct</th><th>samples</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
}

function splitSection(s: ReportSplit): string {
  const m = s.metrics;
  const id = `split-${s.name.replace(/[^a-z0-9_-]/gi, '_')}`;
  const parts = [`<section id="${escapeHtml(id)}"><h2>${escapeHtml(s.name)} — ${m.samples} samples</h2>`];
  parts.push('<h3>Confusion matrix</h3><p class="hint">Rows: true class; columns: predicted class; colour: share of the row.</p>');
  if (s.confusionSvg) parts.push(svgImage(s.confusionSvg, `confusion matrix heatmap (${s.name})`));
  parts.push(confusionTable(m));
  parts.push('<h3>Per class</h3>', perClassTable(m));
  parts.push('<p class="hint">Per-class accuracy is the diagonal over the row total, i.e. the recall. UAR is the mean recall over the classes present.</p>');
  if (m.perSpeaker) parts.push('<h3>Per speaker</h3>', perSpeakerTable(m.perSpeaker));
  if (m.notes.length > 0) parts.push(`<ul class="notes">${m.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`);
  if (s.classificationReport) parts.push('<h3>Classification report</h3>', `<pre>${escapeHtml(s.classificationReport)}</pre>`);
  parts.push('</section>');
  return parts.join('\n');
}

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
.banner{background:#b00020;color:#fff;font-weight:bold;padding:.8em 1em;font-size:1.2em;border-radius:4px}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.8em 1.2em;min-width:200px}
.card h3{margin:0;text-transform:capitalize}.big{font-size:2em;font-weight:bold}.sub{color:#666;margin-bottom:.5em}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .6em;border:1px solid #ddd}th{background:#f6f6f6;text-align:left}
table.num td{text-align:right;font-variant-numeric:tabular-nums}table.kv th,table.kv td{border:none;background:none;padding:.1em .4em}
table.confusion td{text-align:center;min-width:2.5em;font-variant-numeric:tabular-nums}td.diag{font-weight:bold;outline:1px solid #333}
td.total{background:#f6f6f6}.hint{color:#666;font-size:.9em}.plot{max-width:100%;height:auto;display:block;margin:.5em 0}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto}ul.notes{color:#8a5a00}
`;

export function renderReportHtml(input: ReportInput): string {
  const banner = input.synthetic
    ? '<div class="banner" role="alert">SYNTHETIC DATA — not a real result. These numbers come from generated audio and say nothing about emotion recognition.</div>'
    : '';
  const info = input.runInfo
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(formatInfo(v))}</td></tr>`)
    .join('\n');
  const curves = input.curvesSvg
    ? `<section id="training"><h2>Training curves</h2>${svgImage(input.curvesSvg, 'training curves: loss, accuracy and learning rate per epoch')}</section>`
    : '';
  const notes = input.notes?.length ? `<section id="notes"><h2>Notes</h2><ul>${input.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></section>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>${CSS}</style>
</head>
<body>
${banner}
<h1>${escapeHtml(input.title)}</h1>
${summaryCards(input.splits)}
<section id="run"><h2>Run</h2><table class="run-info">${info}</table></section>
${curves}
${input.splits.map(splitSection).join('\n')}
${notes}
</body>
</html>
`;
}

/** Run-info values: non-integers to 4 significant digits (0.5333, not 0.5333333333333333). */
function formatInfo(v: string | number | boolean | null): string {
  if (v === null) return '—';
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Number(v.toPrecision(4)));
  return String(v);
}
