/** GET /api/runs, /api/runs/:id, /api/runs/:id/files/:stage/*, /api/diff, /api/experiments. */
import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { diffRuns } from '../cli/runs.js';
import { contentTypeOf, runFiles, servableFile } from './entry-files.js';
import type { RunsSource } from './runs-source.js';
import { cachedSummaryOf, summaryOf, type RunSummary } from './summaries.js';
import { HttpError } from './http-error.js';

export function registerRunRoutes(app: FastifyInstance, runs: RunsSource): void {
  const find = (id: string) => {
    const rec = runs.find(id);
    if (!rec) throw new HttpError(404, 'E_NOT_FOUND', `no run matches '${id.slice(0, 80)}' (a hash prefix of 4+ hex digits, or latest)`);
    return rec;
  };

  app.get('/api/runs', async () => ({ runs: runs.list().map(cachedSummaryOf) }));

  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req) => {
    const rec = find(req.params.id);
    return { ...rec, summary: summaryOf(rec), files: runFiles(rec) };
  });

  app.get<{ Params: { id: string; stage: string; '*': string } }>('/api/runs/:id/files/:stage/*', async (req, reply) => {
    const rec = find(req.params.id);
    const path = servableFile(rec, req.params.stage, req.params['*']);
    if (!path) throw new HttpError(404, 'E_NOT_FOUND', `run ${rec.run.slice(0, 12)} has no file '${req.params['*'].slice(0, 200)}' in stage '${req.params.stage.slice(0, 80)}'`);
    reply.header('content-type', contentTypeOf(path));
    // Reports are our own self-contained HTML; still, keep them from scripting this origin.
    if (path.endsWith('.html')) reply.header('content-security-policy', "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'");
    return reply.send(createReadStream(path));
  });

  app.get<{ Querystring: { a?: string; b?: string } }>('/api/diff', async (req) => {
    if (!req.query.a || !req.query.b) throw new HttpError(400, 'E_USAGE', 'diff needs ?a=RUN&b=RUN');
    const a = find(req.query.a);
    const b = find(req.query.b);
    return { a: summaryOf(a), b: summaryOf(b), ...diffRuns(a, b) };
  });

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
