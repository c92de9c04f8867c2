/**
 * Trained models for /api/predict: which directories may be used (a recorded run's train stage,
 * or a train output inside the cache; never an arbitrary path), and a small cache of open
 * ONNX Runtime sessions so repeated requests do not reload the model.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Classifier } from '../model/infer.js';
import { readFrontend } from '../predict/predict.js';
import type { FrontendConfig } from '../audio/frontend-config.js';
import { HttpError } from './http-error.js';
import { requireRun, trainStageOf, type RunsSource } from './runs-source.js';

export interface LoadedModel {
  dir: string;
  frontend: FrontendConfig;
  labels: string[];
  classifier: Classifier;
}

const real = (p: string): string | undefined => {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
};

export class ModelStore {
  private readonly open = new Map<string, Promise<LoadedModel>>();

  constructor(private readonly runs: RunsSource, private readonly cacheDir: string, private readonly capacity = 4) {}

  /** The model directory named by `?run=` or `?model=`, checked. */
  resolveDir(q: { run?: string; model?: string }): string {
    if (!!q.run === !!q.model) throw new HttpError(400, 'E_USAGE', 'give exactly one of ?run=RUN or ?model=DIR');
    if (q.run) {
      const rec = requireRun(this.runs, q.run);
      const train = trainStageOf(rec);
      if (!train?.outputDir) throw new HttpError(404, 'E_NOT_FOUND', `run ${rec.run.slice(0, 12)} has no trained model`);
      const dir = real(train.outputDir);
      if (!dir) throw new HttpError(404, 'E_NOT_FOUND', `the model of run ${rec.run.slice(0, 12)} is no longer in the cache (gc?)`);
      return dir;
    }
    const dir = real(q.model!);
    const cache = real(this.cacheDir);
    const recorded = () => this.runs.list().some((r) => { const t = trainStageOf(r)?.outputDir; return t !== undefined && t !== null && real(t) === dir; });
    if (!dir || !((cache && dir.startsWith(cache + sep)) || recorded())) {
      throw new HttpError(403, 'E_USAGE', `model directory '${q.model!.slice(0, 200)}' is not a train stage output in this project's cache`);
    }
    if (!existsSync(join(dir, 'model.onnx'))) throw new HttpError(404, 'E_NOT_FOUND', `no model.onnx in ${q.model!.slice(0, 200)}`);
    return dir;
  }

  async get(dir: string): Promise<LoadedModel> {
    let p = this.open.get(dir);
    if (!p) {
      p = this.load(dir);
      this.open.set(dir, p);
      p.catch(() => this.open.delete(dir));
      while (this.open.size > this.capacity) {
        const [oldest, evicted] = this.open.entries().next().value!;
        this.open.delete(oldest);
        void evicted.then((m) => m.classifier.close()).catch(() => undefined);
      }
    } else {
      // Most recently used last.
      this.open.delete(dir);
      this.open.set(dir, p);
    }
    return p;
  }

  private async load(dir: string): Promise<LoadedModel> {
    const frontend = readFrontend(dir);
    const { loadClassifier } = await import('../model/infer.js');
    const classifier = await loadClassifier(join(dir, 'model.onnx'), { threads: 1 });
    const labels = classifier.labels ?? Array.from({ length: classifier.classes }, (_, i) => `class_${i}`);
    return { dir, frontend, labels, classifier };
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((p) => p.then((m) => m.classifier.close()).catch(() => undefined)));
  }
}
