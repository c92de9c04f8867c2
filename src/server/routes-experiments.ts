/**
 * GET /api/experiments: runs grouped by the experiment (sweep, matrix) they belong to;
 * GET /api/experiments/:id/compare: `emopipe compare`'s JSON for one experiment, and
 * GET /experiments/:id/compare.html: its page (table, and the metric against each varied parameter).
 */
import type { FastifyInstance } from 'fastify';
import { compareRuns, type Comparison } from '../engine/experiment.js';
import { compareHtml } from './compare-view.js';
import { HttpError } from './http-error.js';
import { experimentOf, type RunsSource } from './runs-source.js';
import { cachedSummaryOf, type RunSummary } from './summaries.js';

/** The comparison of a recorded experiment's runs; a 404 for an id no run records (ids are matched, never parsed). */
function comparisonOf(runs: RunsSource, id: string): Comparison {
  const members = runs.list().filter((r) => experimentOf(r) === id);
  if (members.length === 0) throw new HttpError(404, 'E_NOT_FOUND', `no experiment '${id.slice(0, 80)}' is recorded`);
  return compareRuns(members);
}

export function registerExperimentRoutes(app: FastifyInstance, runs: RunsSource): void {
  app.get('/api/experiments', async () => {
    const groups = new Map<string, RunSummary[]>();
    for (const r of runs.list()) {
      const s = cachedSummaryOf(r);
      if (!s.experiment) continue;
      const list = groups.get(s.experiment) ?? [];
      list.push(s);
      groups.set(s.experiment, list);
    }
    return { experiments: [...groups].map(([name, members]) => ({ name, runs: members })) };
  });
  app.get<{ Params: { id: string } }>('/api/experiments/:id/compare', async (req) => comparisonOf(runs, req.params.id));
  app.get<{ Params: { id: string } }>('/experiments/:id/compare.html', async (req, reply) => {
    const html = await compareHtml(comparisonOf(runs, req.params.id));
    // Self-contained (inline styles, SVG as data: images), and shown sandboxed like every report.
    reply.header('content-security-policy', "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'");
    return reply.type('text/html; charset=utf-8').send(html);
  });
}
