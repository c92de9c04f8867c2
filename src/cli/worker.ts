import type { Command } from 'commander';
import { openCacheBackend } from '../engine/remote/location.js';
import { positiveInt } from './common.js';
import { loadKinds } from './kinds.js';

/**
 * `emopipe worker --queue redis://HOST:PORT`: take stage jobs until SIGTERM/SIGINT, then finish
 * the current ones and exit 0. One line per job on stderr. The cache is EMOPIPE_CACHE, which
 * must be the coordinator's (an s3:// cache, or a directory both see at the same path).
 */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('compute stages for `run --queue` coordinators (BullMQ on Redis), sharing EMOPIPE_CACHE')
    .requiredOption('--queue <url>', 'the Redis of the queue, redis://HOST:PORT')
    .option('--concurrency <n>', 'stage jobs at once (default 1)', positiveInt, 1)
    .option('-j, --jobs <n>', 'worker threads per stage (default: CPU count / concurrency)', positiveInt)
    .option('--stall-seconds <n>', 'a job whose worker stops renewing its lock this long is retried elsewhere (default 30)', positiveInt, 30)
    .action(async (flags: { queue: string; concurrency: number; jobs?: number; stallSeconds: number }) => {
      // Loaded on demand: other commands never load BullMQ.
      const { startStageWorker } = await import('../engine/remote/stage-worker.js');
      const kinds = await loadKinds();
      const cache = await openCacheBackend();
      const log = (line: string) => process.stderr.write(line + '\n');
      const w = await startStageWorker({ queue: flags.queue, kinds, cache, concurrency: flags.concurrency, jobs: flags.jobs, stallMs: flags.stallSeconds * 1000, log });
      log(`worker ${w.id}: waiting for jobs on ${flags.queue} (concurrency ${flags.concurrency}; cache ${cache.description})`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (sig: string) => {
          if (stopping) return;
          stopping = true;
          log(`worker ${w.id}: ${sig}: finishing the current job(s), taking no more`);
          void w.close().then(resolve, resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      cache.close?.();
      log(`worker ${w.id}: stopped`);
      process.exitCode = 0;
    });
}
