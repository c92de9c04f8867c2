import type { FingerprintParts } from '../fingerprint.js';
import type { Logger, ProgressReporter } from '../stage.js';

/**
 * What a remote worker needs to compute one stage: everything is data (JSON), inputs are
 * named by fingerprint and fetched from the shared cache, and `parts.version` is the stage's
 * implementation version (a worker running other code refuses the job by name).
 */
export interface StageJob {
  fingerprint: string;
  parts: FingerprintParts;
  stage: { name: string; kind: string; params: Record<string, unknown>; needs: string[]; template?: string; matrix?: Record<string, unknown> };
  seed: number;
  pipelineDir: string;
  dataDir: string;
  inputs: { name: string; kind: string; fingerprint: string; matrix?: Record<string, unknown> }[];
}

export interface StageJobDone {
  /** `host:pid` of the worker process that computed (or found) the entry. */
  worker: string;
  seconds: number;
  /** 'cached': the worker found the entry already published (another coordinator's job). */
  status: 'ran' | 'cached';
}

/** Where the coordinator hands cache misses. In-process execution is the engine's default path. */
export interface StageExecutor {
  /** Resolves once the entry is published in the shared cache; rejects with the worker's error. */
  compute(job: StageJob, hooks: { signal?: AbortSignal; progress?: ProgressReporter; log?: Logger }): Promise<StageJobDone>;
  close(): Promise<void>;
}

/** Progress and log events a worker sends back for its running job. */
export type RemoteEvent =
  | { t: 'start'; total: number; unit: string; label?: string }
  | { t: 'tick'; n: number; info?: Record<string, string | number> }
  | { t: 'label'; text: string }
  | { t: 'done' }
  | { t: 'info' | 'warn'; message: string };
