import { EmopipeError, errorMessage } from '../util/errors.js';
import { activeRuns } from './active.js';
import { Cache } from './cache.js';
import { Registry } from './registry.js';
import { isRunHash, removeRunView } from './view.js';

export interface GcResult {
  keptRuns: string[];
  keptEntries: number;
  /** Entries actually removed (with --dry-run: that would be). */
  removedEntries: { fingerprint: string; bytes: number }[];
  removedViews: string[];
  removedTmp: string[];
  /** What could not be removed and why (e.g. a read-only cache); non-empty means gc failed. */
  failed: { what: string; error: string }[];
  /** Registry records whose run id is not a run hash: ignored, nothing is deleted for them. */
  invalidRuns: string[];
  dryRun: boolean;
}

/**
 * The run hashes newest first, those kept (the last `keepLast`; all when undefined) and the
 * fingerprints they reference. An unreadable registry throws here: gc never mistakes it for an
 * empty one. Ids that are not run hashes (a tampered registry) never name a path: they are
 * returned in `invalidRuns` and skipped.
 */
export function keptRuns(artifactsDir: string, keepLast: number | undefined): { order: string[]; kept: Set<string>; referenced: Set<string>; invalidRuns: string[] } {
  const registry = new Registry(artifactsDir);
  const invalidRuns: string[] = [];
  const order: string[] = [];
  for (const id of registry.runHashesNewestFirst()) {
    if (isRunHash(id)) order.push(id);
    else invalidRuns.push(String(id));
  }
  const kept = new Set(keepLast === undefined ? order : order.slice(0, Math.max(0, keepLast)));
  return { order, kept, referenced: registry.fingerprintsOf(kept), invalidRuns };
}

/**
 * Drop cache entries that no kept run references. Kept runs: the last `keepLast` distinct run
 * hashes (all recorded runs when undefined). Refuses while another run uses the cache.
 */
export function collectGarbage(opts: { cacheDir: string; artifactsDir: string; keepLast?: number; dryRun?: boolean }): GcResult {
  const busy = activeRuns(opts.cacheDir);
  if (busy.length) throw new EmopipeError('E_USAGE', `a run is in progress (pid ${busy.join(', ')}); try gc again when it ends`);
  const cache = new Cache(opts.cacheDir);
  const { order, kept, referenced, invalidRuns } = keptRuns(opts.artifactsDir, opts.keepLast);

  const dryRun = opts.dryRun ?? false;
  const removedEntries: GcResult['removedEntries'] = [];
  const failed: GcResult['failed'] = [];
  let keptEntries = 0;
  for (const fp of cache.listEntries()) {
    if (referenced.has(fp)) {
      keptEntries++;
      continue;
    }
    const bytes = cache.entrySize(fp);
    try {
      if (dryRun || cache.evict(fp)) removedEntries.push({ fingerprint: fp, bytes });
    } catch (e) {
      failed.push({ what: `cache entry ${fp.slice(0, 12)}`, error: errorMessage(e) });
    }
  }
  const removedViews: string[] = [];
  for (const run of order) {
    if (kept.has(run)) continue;
    try {
      if (dryRun || removeRunView(opts.artifactsDir, run)) removedViews.push(run);
    } catch (e) {
      failed.push({ what: `run view ${run.slice(0, 12)}`, error: errorMessage(e) });
    }
  }
  const removedTmp = cache.cleanStaleTmp(dryRun);
  return { keptRuns: [...kept], keptEntries, removedEntries, removedViews, removedTmp, failed, invalidRuns, dryRun };
}
