/**
 * In-page inference: a run's model.onnx in ONNX Runtime Web (wasm, one thread) and features from
 * emopipe's own front end (src/predict/wav-features.ts, the code the server and `predict` run),
 * with the run's recorded frontend.json.
 */
import * as ort from 'onnxruntime-web/wasm';
import type { FrontendConfig } from '../src/audio/frontend-config.js';
import { describeProbabilities, featuresOfSamples, featuresOfWav } from '../src/predict/wav-features.js';

// Served by `emopipe serve` from dist/web/vendor/ort: no CDN. One thread: SharedArrayBuffer would
// need cross-origin isolation, and one clip is a few milliseconds of work anyway.
ort.env.wasm.wasmPaths = '/vendor/ort/';
ort.env.wasm.numThreads = 1;

export interface BrowserModel {
  run: string;
  frontend: FrontendConfig;
  labels: string[];
  session: ort.InferenceSession;
}

export interface BrowserPrediction {
  emotion: string;
  probabilities: Record<string, number>;
  /** Unrounded, in label order. */
  raw: number[];
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${(await res.json().catch(() => ({}))).error ?? res.statusText}`);
  return res;
}

export async function loadModel(run: string, trainStage: string): Promise<BrowserModel> {
  const base = `/api/runs/${run}/files/${encodeURIComponent(trainStage)}`;
  const [frontend, labels, bytes] = await Promise.all([
    fetchOk(`${base}/frontend.json`).then((r) => r.json() as Promise<FrontendConfig>),
    fetchOk(`${base}/labels.json`).then((r) => r.json() as Promise<string[]>),
    fetchOk(`${base}/model.onnx`).then((r) => r.arrayBuffer()),
  ]);
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ['wasm'] });
  return { run, frontend, labels, session };
}

export async function classify(model: BrowserModel, features: Float32Array): Promise<BrowserPrediction> {
  const f = model.frontend;
  const input = new ort.Tensor('float32', features, [1, f.frames, f.nMfcc]);
  const result = await model.session.run({ [model.session.inputNames[0]!]: input });
  const raw = Array.from(result[model.session.outputNames[0]!]!.data as Float32Array);
  return { ...describeProbabilities(raw, model.labels), raw };
}

export const predictWav = (model: BrowserModel, bytes: Uint8Array, name: string) => classify(model, featuresOfWav(bytes, model.frontend, name));
export const predictSamples = (model: BrowserModel, y: Float32Array, rate: number) => classify(model, featuresOfSamples(y, rate, model.frontend));
export { featuresOfWav };
