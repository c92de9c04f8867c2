/** GET /api/runs, /api/runs/:id, /api/diff. */
import type { FastifyInstance } from 'fastify';
import { diffRuns } from '../engine/run-diff.js';
import { runFiles } from './entry-files.js';
import { requireRun, type RunsSource } from './runs-source.js';
import { cachedSummaryOf, summaryOf } from './summaries.js';
import { HttpError } from './http-error.js';

export function registerRunRoutes(app: FastifyInstance, runs: RunsSource): void {
  const find = (id: string) => requireRun(runs, id);

  app.get('/api/runs', async () => ({ runs: runs.list().map(cachedSummaryOf) }));

  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req) => {
    const rec = find(req.params.id);
    return { ...rec, summary: summaryOf(rec), files: runFiles(rec) };
  });

  app.get<{ Querystring: { a?: string; b?: string } }>('/api/diff', async (req) => {
    if (!req.query.a || !req.query.b) throw new HttpError(400, 'E_USAGE', 'diff needs ?a=RUN&b=RUN');
    const a = find(req.query.a);
    const b = find(req.query.b);
    return { a: summaryOf(a), b: summaryOf(b), ...diffRuns(a, b) };
  });
}
