/** What the run registry records: a run and its stages (the registry itself is registry.ts). */
import type { FingerprintParts } from './fingerprint.js';

export type StageStatus = 'cached' | 'ran' | 'failed' | 'skipped' | 'interrupted';
export type RunStatus = 'ok' | 'failed' | 'interrupted';
export const RUN_STATUSES: readonly RunStatus[] = ['ok', 'failed', 'interrupted'];

/** What a run knows of each stage, both in memory (StageOutcome) and on record (StageRecord). */
export interface StageFacts {
  name: string;
  kind: string;
  fingerprint: string | null;
  contentHash: string | null;
  status: StageStatus;
  seconds: number;
  outputDir: string | null;
  /** Resolved params (with defaults), as run. */
  params: Record<string, unknown>;
  parts: FingerprintParts | null;
  /** A matrix instance's values (e.g. {fold: 2}); absent for stages that are not fanned out. */
  matrix?: Record<string, unknown>;
}

export interface StageRecord extends StageFacts {
  metrics?: Record<string, number | string | null>;
  summary?: string;
  error?: string;
}

export interface RunRecord {
  run: string;
  pipeline: string;
  /** The experiment (sweep) this run belongs to, if any. */
  experiment?: string;
  file: string;
  pipelineDir: string;
  startedAt: string;
  seconds: number;
  status: RunStatus;
  seed: number;
  resolvedYaml: string;
  stages: StageRecord[];
  metrics: Record<string, Record<string, number | string | null>>;
  /** Human-friendly view: artifacts/<run12>/<stage>/ */
  artifactsDir: string | null;
}

/** A run without its resolved YAML and stages: what listings need. */
export type RunSummary = Pick<RunRecord, 'run' | 'pipeline' | 'experiment' | 'startedAt' | 'seconds' | 'status' | 'metrics'>;

export interface RunQuery {
  /** Run hash prefix (lower-case hex). */
  prefix?: string;
  pipeline?: string;
  experiment?: string;
  status?: RunStatus;
  /** ISO-8601 time: runs started at or after it. */
  since?: string;
  /**
   * Order by a numeric metric, best first: `stage.name`, or a bare `name` (the last stage that
   * reports it, as `runs` shows). Runs without it come last. Default order: as recorded.
   */
  sortBy?: { metric: string; order?: 'asc' | 'desc' };
  /** At most this many: the most recent ones, or the best ones when sorted. */
  limit?: number;
}
