/**
 * The `emopipe serve` HTTP server (Fastify): the bundled web pages from dist/web and a JSON API
 * over the run registry, the cache entries of recorded runs, and trained models.
 * Errors are always `{error, code}` JSON with a 4xx/5xx status, never a stack trace.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { packageRoot } from '../util/paths.js';
import { HttpError } from './http-error.js';
import { ModelStore } from './models.js';
import { registerPredictRoutes, WAV_TYPES } from './routes-predict.js';
import { registerExperimentRoutes } from './routes-experiments.js';
import { registerFileRoutes } from './routes-files.js';
import { registerRunRoutes } from './routes-runs.js';
import { registryRuns, type RunsSource } from './runs-source.js';

/** Largest accepted upload: ten minutes of 48 kHz stereo 16-bit audio is ~110 MB; speech clips are far smaller. */
export const DEFAULT_UPLOAD_LIMIT = 32 * 1024 * 1024;

export interface ServerOptions {
  artifactsDir: string;
  cacheDir: string;
  /** The bundled pages (default dist/web of this package). */
  webDir?: string;
  uploadLimit?: number;
  /** Runs from somewhere other than the registry in artifactsDir (tests). */
  runs?: RunsSource;
}

export function defaultWebDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

/**
 * The pages' Content-Security-Policy: only this origin's scripts (plus the inline import map, by
 * its hash), wasm compilation for ONNX Runtime and PFFFT, no frames, no plugins.
 */
function pageCsp(webDir: string): string {
  const index = join(webDir, 'index.html');
  const map = existsSync(index) ? /<script type="importmap">([\s\S]*?)<\/script>/.exec(readFileSync(index, 'utf8'))?.[1] : undefined;
  const mapHash = map === undefined ? '' : ` 'sha256-${createHash('sha256').update(map).digest('base64')}'`;
  return [
    "default-src 'self'", `script-src 'self' 'wasm-unsafe-eval'${mapHash}`, "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "connect-src 'self'", "media-src 'self' blob: mediastream:", "worker-src 'self' blob:", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
  ].join('; ');
}

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: opts.uploadLimit ?? DEFAULT_UPLOAD_LIMIT });
  const runs = opts.runs ?? registryRuns(opts.artifactsDir);
  const models = new ModelStore(runs, opts.cacheDir);

  app.addContentTypeParser(WAV_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError | HttpError, _req, reply) => {
    if (err instanceof HttpError) return reply.status(err.status).send({ error: err.message, code: err.code });
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    const code = err.code ?? 'E_INTERNAL';
    const message = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
      ? `upload larger than the limit of ${((opts.uploadLimit ?? DEFAULT_UPLOAD_LIMIT) / 1048576).toFixed(0)} MB`
      : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? `unsupported Content-Type; send a WAV file as one of ${WAV_TYPES.join(', ')}`
        : err.message;
    return reply.status(status).send({ error: message, code });
  });

  const webDir = opts.webDir ?? defaultWebDir();
  const csp = pageCsp(webDir);
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html') && !reply.hasHeader('content-security-policy')) reply.header('content-security-policy', csp);
    return payload;
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: `no such page or endpoint: ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`, code: 'E_NOT_FOUND' });
  });

  registerRunRoutes(app, runs);
  registerFileRoutes(app, runs);
  registerExperimentRoutes(app, runs);
  registerPredictRoutes(app, models);

  if (existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: webDir, prefix: '/', index: ['index.html'], dotfiles: 'deny' });
  } else {
    app.get('/', async (_req, reply) => reply.status(503).type('text/plain').send(`the web pages are not built (${webDir} missing): run npm run build`));
  }

  app.addHook('onClose', async () => models.close());
  return app;
}
