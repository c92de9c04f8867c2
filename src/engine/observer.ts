import type { Logger, ProgressReporter } from './stage.js';
import type { LockOwner } from './lock.js';
import type { StageOutcome } from './run.js';

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
