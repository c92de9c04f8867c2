import type { Logger, ProgressReporter } from './stage.js';
import type { LockOwner } from './lock.js';
import type { EmopipeError } from '../util/errors.js';
import type { EntryManifest } from './cache.js';
import type { RunRecord, RunStatus, StageFacts } from './run-record.js';
import type { StageResult } from './stage.js';

/** What the run tells its observer about one stage (kept here, not in run.ts, so neither imports the other). */
export interface StageOutcome extends StageFacts {
  result: StageResult;
  error?: EmopipeError;
  manifest?: EntryManifest;
  /** `host:pid` of the worker process that computed it; null for a cache hit or in-process. */
  worker?: string | null;
}

/** What a run returns (kept here too, so record.ts and run.ts do not import each other). */
export interface RunResult {
  run: string;
  pipeline: string;
  status: RunStatus;
  seconds: number;
  stages: StageOutcome[];
  metrics: Record<string, Record<string, number | string | null>>;
  /** The first stage failure (or the interruption), for the exit message. */
  error?: EmopipeError;
  record?: RunRecord;
}

/** What the engine tells its caller while running; the CLI renders it, tests may record it. */
export interface RunObserver {
  stageStarted?(name: string, kind: string, fingerprint: string): void;
  /** Another process is computing this fingerprint; we wait for its entry. `message` names the lock file and how to clear it. */
  stageWaiting?(name: string, owner: LockOwner | undefined, message?: string): void;
  stageFinished?(outcome: StageOutcome): void;
  /** Engine-level warnings, e.g. a corrupt cache entry being recomputed. */
  warn?(message: string): void;
  progress?(stage: string): ProgressReporter;
  logger?(stage: string): Logger;
}

export const silentProgress: ProgressReporter = {
  start() {},
  tick() {},
  label() {},
  done() {},
};

export const silentLogger: Logger = {
  info() {},
  warn() {},
};
