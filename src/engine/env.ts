import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

/**
 * Where things live, from the environment:
 *   EMOPIPE_CACHE      cache root            (default ./cache)
 *   EMOPIPE_ARTIFACTS  run registry + views  (default ./artifacts)
 *   EMOPIPE_DATA       ctx.dataDir           (default ./data)
 */
export function defaultLocations(env: NodeJS.ProcessEnv = process.env): { cacheDir: string; artifactsDir: string; dataDir: string } {
  return {
    cacheDir: resolve(env.EMOPIPE_CACHE || 'cache'),
    artifactsDir: resolve(env.EMOPIPE_ARTIFACTS || 'artifacts'),
    dataDir: resolve(env.EMOPIPE_DATA || 'data'),
  };
}

export function defaultJobs(): number {
  return availableParallelism();
}
