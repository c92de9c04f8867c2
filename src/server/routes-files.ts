/** GET /api/runs/:id/files/:stage/PATH: one file of a recorded run's stage, if its cache entry lists it. */
import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { contentTypeOf, servableFile } from './entry-files.js';
import { HttpError } from './http-error.js';
import { requireRun, type RunsSource } from './runs-source.js';

export function registerFileRoutes(app: FastifyInstance, runs: RunsSource): void {
  app.get<{ Params: { id: string; stage: string; '*': string } }>('/api/runs/:id/files/:stage/*', async (req, reply) => {
    const rec = requireRun(runs, req.params.id);
    const path = servableFile(rec, req.params.stage, req.params['*']);
    if (!path) throw new HttpError(404, 'E_NOT_FOUND', `run ${rec.run.slice(0, 12)} has no file '${req.params['*'].slice(0, 200)}' in stage '${req.params.stage.slice(0, 80)}'`);
    reply.header('content-type', contentTypeOf(path));
    // Reports are our own self-contained HTML; still, keep them from scripting this origin.
    if (path.endsWith('.html')) reply.header('content-security-policy', "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'");
    return reply.send(createReadStream(path));
  });
}
