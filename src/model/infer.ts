/**
 * Inference helper for evaluate and predict: loads a model.onnx (normaliser inside) and returns
 * class probabilities. onnxruntime-node is imported lazily so CLI start-up stays fast.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EmopipeError } from '../util/errors.js';
import { MODEL_LABELS_FILE } from './artifacts.js';
import { createSession, loadOrt } from './ort.js';

export interface Classifier {
  /** Class names from labels.json beside the model, when present. */
  labels?: string[];
  frames: number;
  coefficients: number;
  classes: number;
  /** x: n rows of [frames, coefficients] raw MFCC features → n * classes probabilities. */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export async function loadClassifier(modelPath: string, opts: { threads?: number; batch?: number } = {}): Promise<Classifier> {
  if (!existsSync(modelPath)) throw new EmopipeError('E_NOT_FOUND', `model not found: ${modelPath}`);
  const ort = await loadOrt();
  const session = await createSession(modelPath, { threads: opts.threads });
  const labelsPath = join(dirname(modelPath), MODEL_LABELS_FILE);
  const labels = existsSync(labelsPath) ? (JSON.parse(readFileSync(labelsPath, 'utf8')) as string[]) : undefined;
  const inMeta = session.inputMetadata?.[0] as { shape?: (number | string)[] } | undefined;
  const outMeta = session.outputMetadata?.[0] as { shape?: (number | string)[] } | undefined;
  const frames = Number(inMeta?.shape?.[1] ?? 174);
  const coefficients = Number(inMeta?.shape?.[2] ?? 40);
  const classes = Number(outMeta?.shape?.[1] ?? labels?.length);
  const chunk = opts.batch ?? 256;
  const per = frames * coefficients;
  return {
    labels, frames, coefficients, classes,
    async predict(x, n) {
      if (x.length !== n * per) {
        throw new EmopipeError('E_MODEL', `predict: expected ${n} x ${frames} x ${coefficients} values, got ${x.length}`);
      }
      const out = new Float32Array(n * classes);
      for (let s = 0; s < n; s += chunk) {
        const count = Math.min(chunk, n - s);
        const res = await session.run({
          [session.inputNames[0]!]: new ort.Tensor('float32', x.subarray(s * per, (s + count) * per), [count, frames, coefficients]),
        });
        out.set(res[session.outputNames[0]!]!.data as Float32Array, s * classes);
      }
      return out;
    },
    close: () => session.release(),
  };
}
