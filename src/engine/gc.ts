import { EmopipeError } from '../util/errors.js';
import { activeRuns } from './active.js';
import { Cache } from './cache.js';
import { Registry } from './registry.js';
import { removeRunView } from './view.js';

export interface GcResult {
  keptRuns: string[];
  keptEntries: number;
  removedEntries: { fingerprint: string; bytes: number }[];
  removedViews: string[];
  removedTmp: string[];
  dryRun: boolean;
}

/** The run hashes newest first, those kept (the last `keepLast`; all when undefined) and the fingerprints they reference. */
export function keptRuns(artifactsDir: string, keepLast: number | undefined): { order: string[]; kept: Set<string>; referenced: Set<string> } {
  const runs = new Registry(artifactsDir).list();
  const order: string[] = [];
  for (let i = runs.length - 1; i >= 0; i--) if (!order.includes(runs[i]!.run)) order.push(runs[i]!.run);
  const kept = new Set(keepLast === undefined ? order : order.slice(0, Math.max(0, keepLast)));
  const referenced = new Set<string>();
  for (const r of runs) if (kept.has(r.run)) for (const s of r.stages) if (s.fingerprint) referenced.add(s.fingerprint);
  return { order, kept, referenced };
}

/**
 * Drop cache entries that no kept run references. Kept runs: the last `keepLast` distinct run
 * hashes (all recorded runs when undefined). Refuses while another run uses the cache.
 */
export function collectGarbage(opts: { cacheDir: string; artifactsDir: string; keepLast?: number; dryRun?: boolean }): GcResult {
  const busy = activeRuns(opts.cacheDir);
  if (busy.length) throw new EmopipeError('E_USAGE', `a run is in progress (pid ${busy.join(', ')}); try gc again when it ends`);
  const cache = new Cache(opts.cacheDir);
  const { order, kept, referenced } = keptRuns(opts.artifactsDir, opts.keepLast);

  const dryRun = opts.dryRun ?? false;
  const removedEntries: GcResult['removedEntries'] = [];
  let keptEntries = 0;
  for (const fp of cache.listEntries()) {
    if (referenced.has(fp)) {
      keptEntries++;
      continue;
    }
    removedEntries.push({ fingerprint: fp, bytes: cache.entrySize(fp) });
    if (!dryRun) cache.evict(fp);
  }
  const removedViews: string[] = [];
  for (const run of order) {
    if (kept.has(run)) continue;
    if (dryRun) removedViews.push(run);
    else if (removeRunView(opts.artifactsDir, run)) removedViews.push(run);
  }
  const removedTmp = cache.cleanStaleTmp(dryRun);
  return { keptRuns: [...kept], keptEntries, removedEntries, removedViews, removedTmp, dryRun };
}
