import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pidAlive } from './lock.js';

/**
 * Markers of runs in progress (`<cache>/active/<pid>.<rand>`), so `gc` never deletes an entry
 * that a running pipeline has just produced and is about to read or record.
 */
export function markActive(cacheDir: string): () => void {
  const dir = join(cacheDir, 'active');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.${randomBytes(4).toString('hex')}`);
  writeFileSync(file, String(Date.now()));
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
    else if (pid !== process.pid) rmSync(join(dir, n), { force: true });
  }
  return live;
}
