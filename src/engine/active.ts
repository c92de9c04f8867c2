import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pidAlive } from './lock.js';
import { isReadOnlyError } from './cache.js';

/**
 * Markers of runs in progress (`<cache>/active/<pid>.<rand>`), so `gc` never deletes an entry
 * that a running pipeline has just produced and is about to read or record.
 */
export function markActive(cacheDir: string): () => void {
  const dir = join(cacheDir, 'active');
  const file = join(dir, `${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, String(Date.now()));
  } catch (e) {
    // A read-only cache: nobody can gc it either, and a fully cached run only reads it.
    if (isReadOnlyError(e)) return () => {};
    throw e;
  }
  return () => rmSync(file, { force: true });
}

/** Pids of live runs using this cache (markers of dead pids are removed). */
export function activeRuns(cacheDir: string): number[] {
  const dir = join(cacheDir, 'active');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const live: number[] = [];
  for (const n of names) {
    const pid = Number(n.split('.')[0]);
    if (pid !== process.pid && pidAlive(pid)) live.push(pid);
    else if (pid !== process.pid) {
      try {
        rmSync(join(dir, n), { force: true });
      } catch {
        /* a read-only cache keeps its stale markers; they are still ignored */
      }
    }
  }
  return live;
}
