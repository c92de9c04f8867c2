import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalBackend } from './local-backend.js';
import { EmopipeError } from '../../util/errors.js';
import type { CacheBackend } from './backend.js';
import type { S3Location } from './s3-backend.js';

export type { S3Location } from './s3-backend.js';

export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m || !m[1]) throw new EmopipeError('E_USAGE', `EMOPIPE_CACHE=${url}: expected s3://BUCKET[/PREFIX]`);
  return { bucket: m[1], prefix: m[2]!.replace(/^\/+|\/+$/g, '') };
}


/** EMOPIPE_CACHE names an object store (`s3://bucket/prefix`) rather than a directory. */
export function isRemoteCache(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^s3:\/\//.test(env.EMOPIPE_CACHE ?? '');
}

/**
 * The local read-through copy of a remote cache: EMOPIPE_LOCAL_CACHE, or by default
 * `$XDG_CACHE_HOME/emopipe/s3/<bucket>/<prefix>` (XDG_CACHE_HOME defaults to ~/.cache).
 */
export function localCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EMOPIPE_LOCAL_CACHE) return resolve(env.EMOPIPE_LOCAL_CACHE);
  const loc = parseS3Url(env.EMOPIPE_CACHE ?? '');
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'emopipe', 's3', loc.bucket, ...loc.prefix.split('/').filter(Boolean));
}

/** The cache EMOPIPE_CACHE names: a directory (default ./cache) or, for s3://, the S3 backend (checked to be reachable). */
export async function openCacheBackend(env: NodeJS.ProcessEnv = process.env): Promise<CacheBackend> {
  if (!isRemoteCache(env)) return new LocalBackend(resolve(env.EMOPIPE_CACHE || 'cache'));
  // Loaded on demand: local runs never load the AWS SDK.
  const { S3Backend } = await import('./s3-backend.js');
  return new S3Backend(parseS3Url(env.EMOPIPE_CACHE!), localCacheDir(env), env).open();
}
