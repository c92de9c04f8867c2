/**
 * The server's only door to the run registry, so the storage behind it (SQLite) can change in one place. Runs are looked up by validated ids only.
 */
import { HttpError } from './http-error.js';
import { Registry, type RunRecord, type StageRecord } from '../engine/registry.js';

/** A run hash prefix (4 to 64 lowercase hex digits) or `latest`: nothing else reaches the registry. */
export const RUN_ID = /^(?:[0-9a-f]{4,64}|latest)$/;

export interface RunsSource {
  /** Every recorded run, oldest first. */
  list(): RunRecord[];
  /** A run by validated id, or undefined (unknown, ambiguous or malformed). */
  find(id: string): RunRecord | undefined;
}

/**
 * Runs from the registry in `artifactsDir`. The full list is kept while the number of recorded
 * runs is unchanged (the registry only appends), so a page view does not rebuild 1,000 records per
 * request; single runs are looked up through the registry's index.
 */
export function registryRuns(artifactsDir: string): RunsSource {
  const registry = new Registry(artifactsDir);
  let memo: { count: number; runs: RunRecord[] } | undefined;
  const list = (): RunRecord[] => {
    const count = registry.count();
    if (memo?.count !== count) memo = { count, runs: registry.list() };
    return memo.runs;
  };
  return {
    list,
    find: (id) => (RUN_ID.test(id) ? registry.tryFind(id) : undefined),
  };
}

/** The run `id` names, or a JSON 404 naming the id. */
export function requireRun(runs: RunsSource, id: string): RunRecord {
  const rec = runs.find(id);
  if (!rec) throw new HttpError(404, 'E_NOT_FOUND', `no run matches '${id.slice(0, 80)}' (a hash prefix of 4+ hex digits, or latest)`);
  return rec;
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
