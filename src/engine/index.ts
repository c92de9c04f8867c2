/** The engine's programmatic API (the CLI is a thin layer over this). */
export type { StageKind, StageContext, StageResult, StageInput, ProgressReporter, Logger, JsonSchema } from './stage.js';
export { kindRegistry, type KindRegistry } from './kinds.js';
export { loadPipeline, parsePipeline, resolvedYaml, selectStages, parseOverride, resolveParams, type Pipeline, type StageSpec, type LoadOptions } from './config.js';
export { runPipeline, runHash, type EngineOptions, type RunResult, type StageOutcome } from './run.js';
export { planPipeline, explainChange, paramChanges, type StagePlan } from './status.js';
export { fingerprintParts, fingerprintOf, semanticParams, type FingerprintParts } from './fingerprint.js';
export { implementationVersion, moduleClosure } from './version.js';
export { Cache, contentHashOf, hashDirectory, MANIFEST, type EntryManifest, type EntryFile } from './cache.js';
export { Registry, type RunRecord, type RunSummary, type RunQuery, type StageRecord } from './registry.js';
export { collectGarbage, type GcResult } from './gc.js';
export { describeEntry, type FileSummary } from './inspect.js';
export { defaultLocations, defaultJobs } from './env.js';
export type { RunObserver } from './observer.js';

import { loadPipeline, selectStages } from './config.js';
import type { KindRegistry } from './kinds.js';
import { runPipeline, type EngineOptions, type RunResult } from './run.js';

/** Load, override, select and run a pipeline file in one call (what tests and scripts use). */
export async function runPipelineFile(
  file: string,
  opts: EngineOptions & { kinds: KindRegistry; overrides?: string[]; targets?: string[] },
): Promise<RunResult> {
  const pipeline = selectStages(loadPipeline(file, { kinds: opts.kinds, overrides: opts.overrides }), opts.targets ?? []);
  return runPipeline(pipeline, opts);
}
