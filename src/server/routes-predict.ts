/** POST /api/predict?run=ID|model=DIR with a WAV body → {emotion, probabilities}. */
import type { FastifyInstance } from 'fastify';
import { describeProbabilities, featuresOfWav } from '../predict/wav-features.js';
import { isEmopipeError } from '../util/errors.js';
import { HttpError } from './http-error.js';
import type { ModelStore } from './models.js';

/** Content types accepted as a WAV body (browsers and curl send any of these). */
export const WAV_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'application/octet-stream'];

export function registerPredictRoutes(app: FastifyInstance, models: ModelStore): void {
  app.post<{ Querystring: { run?: string; model?: string }; Body: Buffer }>('/api/predict', async (req) => {
    const dir = models.resolveDir(req.query);
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw new HttpError(400, 'E_WAV_INVALID', 'the request body must be a WAV file (Content-Type: audio/wav)');
    const model = await models.get(dir);
    let features: Float32Array;
    try {
      features = featuresOfWav(new Uint8Array(body.buffer, body.byteOffset, body.length), model.frontend, 'upload');
    } catch (e) {
      if (isEmopipeError(e)) throw new HttpError(422, e.code, e.format());
      throw e;
    }
    const probs = await model.classifier.predict(features, 1);
    return describeProbabilities(probs, model.labels);
  });
}
