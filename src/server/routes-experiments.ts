/** GET /api/experiments: runs grouped by the experiment (sweep, matrix) they belong to. */
import type { FastifyInstance } from 'fastify';
import type { RunsSource } from './runs-source.js';
import { cachedSummaryOf, type RunSummary } from './summaries.js';

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
}
