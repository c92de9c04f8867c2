import type { EngineOptions } from '../engine/run.js';
import { isRemoteCache, openCacheBackend } from '../engine/remote/location.js';

/** Stages a coordinator keeps in flight on the queue when `--jobs` is not given (workers bound the real parallelism). */
export const QUEUE_DEFAULT_JOBS = 64;

/**
 * The scale-out parts a `run` asks for: the S3 cache when EMOPIPE_CACHE is s3://, the BullMQ
 * executor with `--queue`. Neither is loaded otherwise (no AWS SDK or Redis client for local runs).
 */
export async function openRemote(queue: string | undefined): Promise<{ options: Pick<EngineOptions, 'cache' | 'executor'>; close(): Promise<void> }> {
  const cache = isRemoteCache() ? await openCacheBackend() : undefined;
  let executor: import('../engine/remote/bullmq-executor.js').BullmqExecutor | undefined;
  if (queue) {
    const { BullmqExecutor } = await import('../engine/remote/bullmq-executor.js');
    try {
      executor = await BullmqExecutor.connect(queue);
    } catch (e) {
      cache?.close?.();
      throw e;
    }
  }
  return {
    options: { ...(cache ? { cache } : {}), ...(executor ? { executor } : {}) },
    async close() {
      await executor?.close();
      cache?.close?.();
    },
  };
}
