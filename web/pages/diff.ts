/** Two runs side by side: headline metrics, then parameter and metric changes as `emopipe diff` lists them. */
import type { RunSummary } from '../../src/server/summaries.js';
import { getJson, h, pct, shortDate, duration } from '../dom.js';

interface DiffDoc {
  a: RunSummary;
  b: RunSummary;
  params: string[];
  metrics: string[];
}

export async function diffPage(view: HTMLElement, a: string, b: string): Promise<void> {
  const d = await getJson<DiffDoc>(`/api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const row = (label: string, f: (r: RunSummary) => string) => h('tr', {}, h('th', {}, label), h('td', {}, f(d.a)), h('td', {}, f(d.b)));
  const link = (r: RunSummary) => h('a', { href: `#/run/${r.run.slice(0, 12)}` }, r.run.slice(0, 12));
  view.replaceChildren(
    h('h1', {}, 'Diff'),
    h('table', { class: 'diff' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, link(d.a)), h('th', {}, link(d.b)))),
      h('tbody', {},
        row('pipeline', (r) => r.pipeline), row('date', (r) => shortDate(r.startedAt)), row('status', (r) => r.status),
        row('duration', (r) => duration(r.seconds)), row('val accuracy', (r) => pct(r.headline.accuracy)), row('val UAR', (r) => pct(r.headline.uar)),
        row('test accuracy', (r) => pct(r.headline.testAccuracy)), row('test UAR', (r) => pct(r.headline.testUar)))),
    h('h2', {}, 'Parameters'),
    d.params.length ? h('ul', { id: 'param-changes' }, d.params.map((p) => h('li', {}, h('code', {}, p)))) : h('p', { class: 'muted' }, 'same parameters'),
    h('h2', {}, 'Metrics'),
    d.metrics.length ? h('ul', { id: 'metric-changes' }, d.metrics.map((m) => h('li', {}, h('code', {}, m)))) : h('p', { class: 'muted' }, 'same metrics'),
  );
}
