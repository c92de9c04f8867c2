import { EmopipeError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { StageSpec } from './config.js';
import { silentLogger, silentProgress, type RunObserver } from './observer.js';
import type { StageContext, StageInput } from './stage.js';

export interface ContextEnv {
  seed: number;
  pipelineDir: string;
  dataDir: string;
  jobs: number;
  signal?: AbortSignal;
  observer?: RunObserver;
  resolvePath(p: string): string;
}

/** What a stage's run() gets: its params, inputs, output dir, seeded RNG, progress and logger. */
export function stageContext(s: StageSpec, inputs: StageInput[], outDir: string, env: ContextEnv): StageContext<Record<string, unknown>> {
  const findInputs = (kind: string) => inputs.filter((i) => i.kind === kind);
  const obs = env.observer ?? {};
  return {
    stageName: s.name,
    params: structuredClone(s.params),
    inputs,
    input(kind: string) {
      const found = findInputs(kind);
      if (found.length === 1) return found[0]!;
      throw new EmopipeError(
        'E_INPUT_MISSING',
        found.length === 0
          ? `stage ${s.name} needs an input of kind '${kind}' (its needs: ${s.needs.join(', ') || 'none'})`
          : `stage ${s.name} has ${found.length} inputs of kind '${kind}'; expected one`,
      );
    },
    maybeInput(kind: string) {
      return findInputs(kind)[0];
    },
    outDir,
    // Seeded by the stage as written, so every instance of a matrix stage draws the same
    // stream (speaker folds must agree across instances); params tell instances apart.
    rng: new Rng(`${env.seed}/${s.template ?? s.name}`),
    progress: obs.progress?.(s.name) ?? silentProgress,
    log: obs.logger?.(s.name) ?? silentLogger,
    signal: env.signal ?? new AbortController().signal,
    jobs: env.jobs,
    dataDir: env.dataDir,
    pipelineDir: env.pipelineDir,
    resolvePath: env.resolvePath,
  };
}
