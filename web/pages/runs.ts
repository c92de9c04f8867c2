/** The runs list: sortable, filterable by pipeline and experiment; pick two runs to diff. */
import type { RunSummary } from '../../src/server/summaries.js';
import { duration, getJson, h, pct, shortDate } from '../dom.js';

interface Column {
  key: string;
  label: string;
  num?: boolean;
  value: (r: RunSummary) => string | number | undefined;
  show?: (r: RunSummary) => Node | string;
}

const columns: Column[] = [
  { key: 'run', label: 'run', value: (r) => r.run, show: (r) => h('a', { href: `#/run/${r.run.slice(0, 12)}` }, h('code', {}, r.run.slice(0, 12))) },
  { key: 'date', label: 'date', value: (r) => r.startedAt, show: (r) => shortDate(r.startedAt) },
  { key: 'pipeline', label: 'pipeline', value: (r) => r.pipeline },
  { key: 'experiment', label: 'experiment', value: (r) => r.experiment ?? '' },
  { key: 'status', label: 'status', value: (r) => r.status, show: (r) => h('span', { class: r.status === 'ok' ? 'ok' : 'failed' }, r.status) },
  { key: 'seconds', label: 'duration', num: true, value: (r) => r.seconds, show: (r) => duration(r.seconds) },
  { key: 'acc', label: 'val acc', num: true, value: (r) => r.headline.accuracy, show: (r) => pct(r.headline.accuracy) },
  { key: 'uar', label: 'val UAR', num: true, value: (r) => r.headline.uar, show: (r) => pct(r.headline.uar) },
  { key: 'tacc', label: 'test acc', num: true, value: (r) => r.headline.testAccuracy, show: (r) => pct(r.headline.testAccuracy) },
  { key: 'tuar', label: 'test UAR', num: true, value: (r) => r.headline.testUar, show: (r) => pct(r.headline.testUar) },
  {
    key: 'cv', label: 'CV mean ± std', num: true, value: (r) => r.headline.cvMean,
    show: (r) => (r.headline.cvMean === undefined ? '–' : `${pct(r.headline.cvMean)} ± ${pct(r.headline.cvStd ?? 0)}`),
  },
];

export async function runsPage(view: HTMLElement): Promise<void> {
  const { runs } = await getJson<{ runs: RunSummary[] }>('/api/runs');
  let sortKey = 'date';
  let descending = true;
  const selected = new Set<string>();
  const pipelines = [...new Set(runs.map((r) => r.pipeline))].sort();
  const experiments = [...new Set(runs.map((r) => r.experiment).filter((e): e is string => !!e))].sort();

  const pipelineFilter = h('select', { 'aria-label': 'pipeline', onchange: () => render() }, h('option', { value: '' }, 'all pipelines'), pipelines.map((p) => h('option', { value: p }, p)));
  const experimentFilter = h('select', { 'aria-label': 'experiment', onchange: () => render() }, h('option', { value: '' }, 'all experiments'), experiments.map((e) => h('option', { value: e }, e)));
  const diffButton = h('button', { class: 'primary', disabled: true, onclick: () => { location.hash = `#/diff/${[...selected].join('/')}`; } }, 'Diff the two selected');
  const count = h('span', { class: 'muted' });
  const tbody = h('tbody');
  const head = h('tr', {}, h('th', {}, ''), columns.map((c) =>
    h('th', { class: `sortable${c.num ? ' num' : ''}`, 'data-key': c.key, onclick: () => { descending = sortKey === c.key ? !descending : c.num === true || c.key === 'date'; sortKey = c.key; render(); } }, c.label)));

  function render(): void {
    const col = columns.find((c) => c.key === sortKey)!;
    const shown = runs
      .filter((r) => (!pipelineFilter.value || r.pipeline === pipelineFilter.value) && (!experimentFilter.value || r.experiment === experimentFilter.value))
      .sort((a, b) => {
        const va = col.value(a);
        const vb = col.value(b);
        if (va === vb) return 0;
        if (va === undefined) return 1;
        if (vb === undefined) return -1;
        return (va < vb ? -1 : 1) * (descending ? -1 : 1);
      });
    for (const th of head.querySelectorAll('th[data-key]')) th.textContent = columns.find((c) => c.key === th.getAttribute('data-key'))!.label + (th.getAttribute('data-key') === sortKey ? (descending ? ' ▾' : ' ▴') : '');
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const box = h('input', { type: 'checkbox', 'aria-label': `select ${r.run.slice(0, 12)}`, checked: selected.has(r.run.slice(0, 12)), onchange: (e) => {
        const id = r.run.slice(0, 12);
        if ((e.target as HTMLInputElement).checked) selected.add(id); else selected.delete(id);
        diffButton.disabled = selected.size !== 2;
      } });
      frag.append(h('tr', { 'data-run': r.run }, h('td', {}, box), columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.show ? c.show(r) : String(c.value(r) ?? '')))));
    }
    tbody.replaceChildren(frag);
    count.textContent = `${shown.length} of ${runs.length} runs`;
  }

  view.replaceChildren(
    h('h1', {}, 'Runs'),
    runs.length === 0
      ? h('p', { class: 'muted' }, 'No runs recorded yet: npx emopipe run pipelines/demo.yaml')
      : h('div', {}, h('div', { class: 'toolbar' }, pipelineFilter, experimentFilter, diffButton, count), h('table', { id: 'runs' }, h('thead', {}, head), tbody)),
  );
  render();
}
