import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confusionTable, escapeHtml, renderReportHtml } from '../src/report/html.js';
import { evaluateSplits, formatClassificationReport } from '../src/report/metrics.js';
import { confusionSpec, curvesSpec, pngFontsAvailable, renderSvg, svgToPng, type HistoryRow } from '../src/report/plots.js';

const labels = ['neutral', 'calm', 'happy', 'sad'];
// 4 classes, 10 samples; probabilities are one-hot on the prediction.
const yTrue = [0, 0, 1, 1, 1, 2, 2, 3, 3, 3];
const yPred = [0, 1, 1, 1, 2, 2, 2, 3, 0, 3];
const probabilities = new Float32Array(yPred.length * labels.length);
yPred.forEach((p, i) => (probabilities[i * labels.length + p] = 1));
const speakers = ['01', '02', '01', '02', '01', '02', '01', '02', '01', '02'];
const metrics = evaluateSplits({ validation: { probabilities, yTrue, speakers } }, labels).validation!;

const history: HistoryRow[] = Array.from({ length: 12 }, (_, e) => ({
  epoch: e + 1,
  loss: 2 / (e + 1),
  accuracy: 0.2 + e * 0.05,
  val_loss: e === 0 ? null : 2.2 / (e + 1),
  val_accuracy: 0.15 + e * 0.04,
  lr: 0.001 * 0.9 ** e,
  seconds: 1.5,
}));

/** Text content of every <text> element in an SVG document. */
const svgTexts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

test('confusion heatmap renders to SVG with labels and counts', async () => {
  const svg = await renderSvg(confusionSpec(metrics, 'Confusion matrix — validation'));
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const texts = svgTexts(svg);
  for (const l of labels) assert.ok(texts.filter((t) => t === l).length >= 2, `${l} on both axes`);
  // One count label per cell: 16 cells whose values are the matrix entries.
  const cellCounts = texts.filter((t) => /^\d+$/.test(t)).map(Number).sort((a, b) => a - b);
  const expected = metrics.confusionMatrix.flat().sort((a, b) => a - b);
  assert.deepEqual(cellCounts.slice(-expected.length), expected);
  assert.ok(texts.includes('Confusion matrix — validation'));
  // 16 cells drawn as rect marks (vega paths inside the mark-rect group).
  const rectGroup = /<g class="mark-rect role-mark[^"]*"[^>]*>(.*?)<\/g>/s.exec(svg)?.[1] ?? '';
  assert.equal((rectGroup.match(/<path /g) ?? []).length, 16);
});

test('rendering is repeatable: same spec, same SVG bytes, ids still resolve', async () => {
  const a = await renderSvg(confusionSpec(metrics, 'cm'));
  const b = await renderSvg(confusionSpec(metrics, 'cm'));
  assert.equal(a, b);
  const ids = [...a.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  const refs = [...a.matchAll(/url\(#([^)]+)\)/g)].map((m) => m[1]);
  assert.ok(refs.length > 0, 'the colour legend uses a gradient');
  for (const ref of refs) assert.ok(ids.includes(ref), `url(#${ref}) is defined`);
});

test('training curves render with the best epoch marked and null values skipped', async () => {
  const svg = await renderSvg(curvesSpec(history, 7));
  const texts = svgTexts(svg);
  for (const t of ['Loss', 'Accuracy', 'Learning rate', 'val_loss', 'val_accuracy']) assert.ok(texts.includes(t), `has ${t}`);
  assert.equal(texts.filter((t) => t === 'best epoch 7').length, 3, 'best epoch marked in each panel');
  assert.ok(!/NaN/.test(svg), 'no NaN coordinates from the null val_loss');
  const noBest = svgTexts(await renderSvg(curvesSpec(history)));
  assert.ok(!noBest.some((t) => t.startsWith('best epoch')));
});

test('SVG rasterises to PNG with readable text when fonts exist', async (t) => {
  if (!(await pngFontsAvailable())) {
    t.skip('no system fonts for resvg on this machine: PNG plots are skipped by evaluate');
    return;
  }
  const svg = await renderSvg(confusionSpec(metrics, 'cm'));
  const png = await svgToPng(svg, 2);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const width = Number(/^<svg[^>]*\swidth="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
  assert.equal(png.readUInt32BE(16), Math.ceil(width * 2), 'IHDR width = 2 × SVG width');
});

test('report.html is self-contained and holds heatmap, tables and banner', async () => {
  const confusionSvg = await renderSvg(confusionSpec(metrics, 'cm'));
  const curvesSvg = await renderSvg(curvesSpec(history, 7));
  const html = renderReportHtml({
    title: 'evaluation <test>',
    synthetic: true,
    runInfo: [['stage', 'evaluate'], ['model: best_epoch', 7], ['note', null]],
    splits: [{ name: 'validation', metrics, confusionSvg, classificationReport: formatClassificationReport(metrics, 3) }],
    curvesSvg,
    notes: ['PNG skipped & why'],
  });
  // Nothing to fetch: no scripts, stylesheets or remote sources.
  assert.ok(!/<script|<link|<iframe|@import/i.test(html));
  assert.ok(!/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html), 'no remote src/href');
  assert.ok(!/url\(\s*["']?https?:/i.test(html));
  const images = [...html.matchAll(/<img [^>]*src="data:image\/svg\+xml;base64,([^"]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
  assert.equal(images.length, 2, 'heatmap and curves embedded');
  assert.equal(images[0], curvesSvg);
  assert.equal(images[1], confusionSvg);
  for (const svg of images) assert.ok(!/(xlink:)?href="https?:/.test(svg), 'embedded SVG fetches nothing');
  assert.match(html, /alt="confusion matrix heatmap \(validation\)"/);

  assert.match(html, /SYNTHETIC DATA — not a real result/);
  assert.match(html, /<title>evaluation &lt;test&gt;<\/title>/, 'title escaped');
  assert.match(html, /PNG skipped &amp; why/);
  // Per-class row: calm has precision 2/3, recall 2/3 and 3 samples.
  assert.match(html, /<tr><th>calm<\/th><td>0\.667<\/td><td>0\.667<\/td><td>0\.667<\/td><td>66\.7%<\/td><td>3<\/td><\/tr>/);
  // Per-speaker table: speaker 01 got 3 of 5 right (rows 0,2,4,6,8: true 0,1,1,2,3, predicted 0,1,2,2,0).
  assert.match(html, /<tr><th>01<\/th><td>60\.0%<\/td><td>3<\/td><td>5<\/td><\/tr>/);
  assert.match(html, /<tr><th>02<\/th><td>80\.0%<\/td><td>4<\/td><td>5<\/td><\/tr>/);
  assert.match(html, /<pre>\s+precision\s+recall\s+f1-score\s+support/);

  const real = renderReportHtml({ title: 't', synthetic: false, runInfo: [], splits: [{ name: 'test', metrics }] });
  assert.ok(!/SYNTHETIC/.test(real));
  assert.ok(!/<img/.test(real), 'no plots given, none embedded');
  assert.match(real, /<table class="confusion">/, 'the HTML confusion table stands in for the plot');
});

test('confusion table: counts in order, diagonal marked, row shading by share', () => {
  const html = confusionTable({ labels: ['a', 'b'], confusionMatrix: [[3, 1], [0, 0]] });
  const cells = [...html.matchAll(/<td class="cm( diag)?" style="background:([^;]+);[^"]*">(\d+)<\/td>/g)];
  assert.deepEqual(cells.map((c) => Number(c[3])), [3, 1, 0, 0]);
  assert.deepEqual(cells.map((c) => c[1] === ' diag'), [true, false, false, true]);
  assert.equal(cells[0]![2], 'rgb(68,99,144)', '75% of the row');
  assert.equal(cells[3]![2], 'rgb(247,251,255)', 'empty row stays white, no NaN');
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});
