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

/**
 * Drop cache entries that no kept run references. Kept runs: the last `keepLast` distinct run
 * hashes (all recorded runs when undefined). Refuses while another run uses the cache.
 */
export function collectGarbage(opts: { cacheDir: string; artifactsDir: string; keepLast?: number; dryRun?: boolean }): GcResult {
  const busy = activeRuns(opts.cacheDir);
  if (busy.length) throw new EmopipeError('E_USAGE', `a run is in progress (pid ${busy.join(', ')}); try gc again when it ends`);
  const cache = new Cache(opts.cacheDir);
  const registry = new Registry(opts.artifactsDir);
  // An unreadable registry throws here: gc never mistakes it for an empty one.
  const order = registry.runHashesNewestFirst();
  const kept = new Set(opts.keepLast === undefined ? order : order.slice(0, Math.max(0, opts.keepLast)));
  const referenced = registry.fingerprintsOf(kept);

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
