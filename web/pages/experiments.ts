/** Runs grouped by the experiment (sweep or matrix) they belong to, with their headline metrics. */
import type { RunSummary } from '../../src/server/summaries.js';
import { getJson, h, pct, shortDate } from '../dom.js';

export async function experimentsPage(view: HTMLElement): Promise<void> {
  const { experiments } = await getJson<{ experiments: { name: string; runs: RunSummary[] }[] }>('/api/experiments');
  view.replaceChildren(
    h('h1', {}, 'Experiments'),
    experiments.length === 0
      ? h('p', { class: 'muted' }, 'No experiments recorded yet: runs made with --sweep or a matrix appear here, grouped.')
      : h('div', {}, experiments.map((e) => h('section', {},
        h('h2', {}, e.name),
        h('p', {}, h('a', { href: `/experiments/${encodeURIComponent(e.name)}/compare.html`, target: '_blank' }, 'compare: the parameters that differ, the metrics, and a plot of the metric against each varied parameter')),
        h('table', {},
          h('thead', {}, h('tr', {}, ['run', 'date', 'val acc', 'val UAR', 'test acc', 'test UAR'].map((c) => h('th', {}, c)))),
          h('tbody', {}, e.runs.map((r) => h('tr', {},
            h('td', {}, h('a', { href: `#/run/${r.run.slice(0, 12)}` }, r.run.slice(0, 12))), h('td', {}, shortDate(r.startedAt)),
            h('td', { class: 'num' }, pct(r.headline.accuracy)), h('td', { class: 'num' }, pct(r.headline.uar)),
            h('td', { class: 'num' }, pct(r.headline.testAccuracy)), h('td', { class: 'num' }, pct(r.headline.testUar))))))))),
  );
}
