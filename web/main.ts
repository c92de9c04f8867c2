/** The emopipe web pages: a hash router over runs, one run, diff, experiments and "Try it". */
import { h } from './dom.js';
import { diffPage } from './pages/diff.js';
import { experimentsPage } from './pages/experiments.js';
import { runPage } from './pages/run.js';
import { runsPage } from './pages/runs.js';
import { tryPage } from './pages/try.js';
import { featuresOfWav } from './inference.js';

const view = document.getElementById('view')!;

async function route(): Promise<void> {
  const [page = 'runs', ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('data-nav') === page || (page === 'run' && a.getAttribute('data-nav') === 'runs'));
  view.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    if (page === 'run' && args[0]) await runPage(view, args[0]);
    else if (page === 'diff' && args[0] && args[1]) await diffPage(view, args[0], args[1]);
    else if (page === 'experiments') await experimentsPage(view);
    else if (page === 'try') await tryPage(view, args[0]);
    else await runsPage(view);
    view.setAttribute('data-page', page);
  } catch (e) {
    view.replaceChildren(h('p', { class: 'error', 'data-testid': 'error' }, (e as Error).message));
  }
}

// For scripts and the browser tests: the exact front end this page runs.
(window as unknown as { emopipe: unknown }).emopipe = { featuresOfWav };

addEventListener('hashchange', () => void route());
void route();
