/**
 * The server's only door to the run registry, so the storage behind it (lowdb today, SQLite
 * soon) can change in one place. Runs are looked up by validated ids only.
 */
import { Registry, type RunRecord, type StageRecord } from '../engine/registry.js';

/** A run hash prefix (4 to 64 lowercase hex digits) or `latest`: nothing else reaches the registry. */
export const RUN_ID = /^(?:[0-9a-f]{4,64}|latest)$/;

export interface RunsSource {
  /** Every recorded run, oldest first. */
  list(): RunRecord[];
  /** A run by validated id, or undefined (unknown, ambiguous or malformed). */
  find(id: string): RunRecord | undefined;
}

export function registryRuns(artifactsDir: string): RunsSource {
  const registry = new Registry(artifactsDir);
  return {
    list: () => registry.list(),
    find: (id) => (RUN_ID.test(id) ? registry.tryFind(id) : undefined),
  };
}

/** The experiment a run belongs to, when the run records one (sweeps and matrices do). */
export function experimentOf(rec: RunRecord): string | null {
  const e = (rec as unknown as { experiment?: unknown }).experiment;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && typeof (e as { name?: unknown }).name === 'string') return (e as { name: string }).name;
  return null;
}

/** The run's (first) train stage with an output directory: the model "Try it" and /api/predict use. */
export function trainStageOf(rec: RunRecord): StageRecord | undefined {
  return rec.stages.find((s) => s.kind === 'train' && s.outputDir && s.status !== 'failed');
}
