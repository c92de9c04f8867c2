import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { isRemoteCache, localCacheDir } from './remote/location.js';

/**
 * Where things live, from the environment:
 *   EMOPIPE_CACHE      cache root            (default ./cache; s3://bucket/prefix: the S3 cache,
 *                      whose local read-through copy is then cacheDir, see remote/location.ts)
 *   EMOPIPE_ARTIFACTS  run registry + views  (default ./artifacts)
 *   EMOPIPE_DATA       ctx.dataDir           (default ./data)
 */
export function defaultLocations(env: NodeJS.ProcessEnv = process.env): { cacheDir: string; artifactsDir: string; dataDir: string } {
  return {
    cacheDir: isRemoteCache(env) ? localCacheDir(env) : resolve(env.EMOPIPE_CACHE || 'cache'),
    artifactsDir: resolve(env.EMOPIPE_ARTIFACTS || 'artifacts'),
    dataDir: resolve(env.EMOPIPE_DATA || 'data'),
  };
}

export function defaultJobs(): number {
  return availableParallelism();
}
