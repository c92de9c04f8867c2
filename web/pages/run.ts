/**
 * One run: reproduce command, stages (fingerprint, cached/ran, time, output files), evaluation
 * (confusion matrices, classification report, plots the evaluate stage drew), resolved YAML.
 */
import type { RunRecord } from '../../src/engine/registry.js';
import type { StageFile } from '../../src/server/entry-files.js';
import type { RunSummary } from '../../src/server/summaries.js';
import { lineChart } from '../chart.js';
import { duration, fmt, getJson, h, pct, shortDate } from '../dom.js';

type RunDoc = RunRecord & { summary: RunSummary; files: Record<string, StageFile[]> };

interface SplitMetrics {
  accuracy: number;
  uar: number;
  macroF1: number;
  labels: string[];
  confusionMatrix: number[][];
  perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}

const fileUrl = (run: string, stage: string, path: string) =>
  `/api/runs/${run}/files/${encodeURIComponent(stage)}/${path.split('/').map(encodeURIComponent).join('/')}`;

function confusionTable(split: string, m: SplitMetrics): HTMLElement {
  const max = Math.max(1, ...m.confusionMatrix.flat());
  return h('table', { class: 'cm', 'data-testid': `confusion-${split}`, 'aria-label': `confusion matrix, ${split}` },
    h('thead', {}, h('tr', {}, h('th', {}, 'true \\ predicted'), m.labels.map((l) => h('th', {}, l)))),
    h('tbody', {}, m.confusionMatrix.map((row, i) => h('tr', {}, h('th', {}, m.labels[i]!), row.map((v, j) => {
      const shade = v / max;
      const colour = i === j ? `rgba(6,118,71,${0.1 + 0.6 * shade})` : `rgba(180,35,24,${v ? 0.08 + 0.5 * shade : 0})`;
      return h('td', { style: `background:${colour}` }, v);
    })))));
}

function reportTable(m: SplitMetrics): HTMLElement {
  return h('table', { class: 'report' },
    h('thead', {}, h('tr', {}, ['class', 'precision', 'recall', 'F1', 'support'].map((c) => h('th', { class: c === 'class' ? null : 'num' }, c)))),
    h('tbody', {},
      m.labels.map((l) => {
        const c = m.perClass[l];
        return h('tr', {}, h('td', {}, l), [c?.precision, c?.recall, c?.f1].map((v) => h('td', { class: 'num' }, fmt(v))), h('td', { class: 'num' }, fmt(c?.support)));
      }),
      h('tr', {}, h('th', {}, 'accuracy'), h('td', { class: 'num' }, pct(m.accuracy)), h('th', {}, 'UAR'), h('td', { class: 'num' }, pct(m.uar)), h('td', {}, `macro F1 ${fmt(m.macroF1)}`))));
}

type Epoch = Record<string, number | undefined>;

/** Loss and accuracy per epoch from each train stage's history.json. */
async function trainingCurves(doc: RunDoc, run: string): Promise<HTMLElement[]> {
  const out: HTMLElement[] = [];
  for (const s of doc.stages.filter((x) => x.kind === 'train')) {
    if (!(doc.files[s.name] ?? []).some((f) => f.path === 'history.json')) continue;
    const history = await getJson<Epoch[]>(fileUrl(run, s.name, 'history.json'));
    if (!Array.isArray(history) || history.length === 0) continue;
    const epochs = history.map((e, i) => e.epoch ?? i + 1);
    const pick = (k: string) => history.map((e) => e[k]);
    out.push(h('h2', {}, `Training curves (${s.name})`), h('div', { class: 'plots', 'data-testid': `curves-${s.name}` },
      lineChart('loss', epochs, [{ name: 'train', values: pick('loss') }, { name: 'validation', values: pick('val_loss') }]),
      lineChart('accuracy', epochs, [{ name: 'train', values: pick('accuracy') }, { name: 'validation', values: pick('val_accuracy') }])));
  }
  return out;
}

async function evaluation(doc: RunDoc, run: string): Promise<HTMLElement[]> {
  const out: HTMLElement[] = [];
  for (const s of doc.stages.filter((x) => x.kind === 'evaluate')) {
    const files = doc.files[s.name] ?? [];
    if (!files.some((f) => f.path === 'metrics.json')) continue;
    const metrics = await getJson<Record<string, unknown>>(fileUrl(run, s.name, 'metrics.json'));
    out.push(h('h2', {}, `Evaluation (${s.name})`));
    if (metrics.synthetic) out.push(h('p', { class: 'muted' }, 'Scores on a SYNTHETIC corpus: they show the machinery works, not how well real emotions are recognised.'));
    for (const split of ['validation', 'test']) {
      const m = metrics[split] as SplitMetrics | undefined;
      if (!m?.confusionMatrix) continue;
      out.push(h('h3', {}, `${split}: accuracy ${pct(m.accuracy)}, UAR ${pct(m.uar)}`), confusionTable(split, m), h('h3', {}, 'Classification report'), reportTable(m));
    }
    // The evaluate stage's own plots (heatmaps; its curves.svg repeats the training curves above).
    const plots = files.filter((f) => f.path.endsWith('.svg') && f.path !== 'curves.svg');
    if (plots.length) out.push(h('h3', {}, 'Plots'), h('div', { class: 'plots' }, plots.map((p) => h('img', { src: fileUrl(run, s.name, p.path), alt: p.path }))));
    if (files.some((f) => f.path === 'report.html')) out.push(h('p', {}, h('a', { href: fileUrl(run, s.name, 'report.html'), target: '_blank', rel: 'noopener' }, 'Full report (report.html)')));
  }
  return out;
}

export async function runPage(view: HTMLElement, id: string): Promise<void> {
  const doc = await getJson<RunDoc>(`/api/runs/${encodeURIComponent(id)}`);
  const run = doc.run.slice(0, 12);
  const size = (n: number) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1048576).toFixed(1)} MB`);
  // A corpus stage can hold thousands of files: the first few inline, the rest behind a fold.
  const fileLinks = (stage: string) => {
    const files = doc.files[stage] ?? [];
    const links = (list: StageFile[]) => list.flatMap((f, i) => [i ? ', ' : '', h('a', { href: fileUrl(run, stage, f.path), title: size(f.size) }, f.path)]);
    if (files.length <= 12) return links(files);
    return h('details', {}, h('summary', {}, `${files.length} files: `, links(files.filter((f) => !f.path.includes('/')).slice(0, 12))), links(files));
  };
  const stages = h('table', { id: 'stages' },
    h('thead', {}, h('tr', {}, ['stage', 'kind', 'fingerprint', 'status', 'time', 'outputs'].map((c) => h('th', {}, c)))),
    h('tbody', {}, doc.stages.map((s) => h('tr', {},
      h('td', {}, s.name), h('td', {}, s.kind), h('td', {}, h('code', { title: s.fingerprint ?? '' }, (s.fingerprint ?? '–').slice(0, 12))),
      h('td', { class: s.status === 'failed' ? 'failed' : null }, s.status), h('td', { class: 'num' }, duration(s.seconds)),
      h('td', { style: 'white-space:normal' }, s.error ? h('span', { class: 'error' }, s.error) : fileLinks(s.name))))));
  const metrics = Object.entries(doc.metrics ?? {});
  const parts: (HTMLElement | null)[] = [
    h('h1', {}, `Run ${run}`),
    h('p', {}, `${doc.pipeline} · ${shortDate(doc.startedAt)} · `, h('span', { class: doc.status === 'ok' ? 'ok' : 'failed' }, doc.status), ` · ${duration(doc.seconds)}`,
      doc.summary.trainStage ? [' · ', h('a', { href: `#/try/${run}` }, 'Try this model')] : null),
    h('p', {}, 'Reproduce: ', h('code', { class: 'cmd', id: 'reproduce' }, `npx emopipe reproduce ${run}`), ' ',
      h('button', { onclick: () => void navigator.clipboard?.writeText(`npx emopipe reproduce ${run}`) }, 'Copy')),
    h('h2', {}, 'Stages'), stages,
    ...(await trainingCurves(doc, run)),
    ...(await evaluation(doc, run)),
    metrics.length ? h('h2', {}, 'Metrics') : null,
    metrics.length ? h('table', {}, h('tbody', {}, metrics.map(([stage, m]) => h('tr', {}, h('th', {}, stage), h('td', { style: 'white-space:normal' }, Object.entries(m).map(([k, v]) => `${k}=${fmt(v)}`).join('  ')))))) : null,
    h('h2', {}, 'Resolved pipeline'), h('pre', { id: 'yaml' }, doc.resolvedYaml),
  ];
  view.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
}
