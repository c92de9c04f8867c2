/**
 * The server's only door to the run registry, so the storage behind it (lowdb today, SQLite
 * soon) can change in one place. Runs are looked up by validated ids only.
 */
import { statSync } from 'node:fs';
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
 * Runs from the registry in `artifactsDir`. The parsed list is kept while the registry file is
 * unchanged (same size, mtime and inode: writers replace it by rename), so a page view does not
 * re-parse megabytes of JSON per request: with 1,000 runs (~19 MB) that took ~0.3-0.6 s each.
 */
export function registryRuns(artifactsDir: string): RunsSource {
  const registry = new Registry(artifactsDir);
  let memo: { key: string; runs: RunRecord[] } | undefined;
  const list = (): RunRecord[] => {
    let key: string;
    try {
      const st = statSync(registry.file);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return registry.list();
    }
    if (memo?.key !== key) memo = { key, runs: registry.list() };
    return memo.runs;
  };
  return {
    list,
    // Registry.find's rules (prefix of one hash, most recent record of it, or latest) on the kept list.
    find: (id) => {
      if (!RUN_ID.test(id)) return undefined;
      const runs = list();
      if (id === 'latest') return runs[runs.length - 1];
      const hashes = new Set(runs.filter((r) => r.run.startsWith(id)).map((r) => r.run));
      if (hashes.size !== 1) return undefined;
      const [hash] = hashes;
      for (let i = runs.length - 1; i >= 0; i--) if (runs[i]!.run === hash) return runs[i];
      return undefined;
    },
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
