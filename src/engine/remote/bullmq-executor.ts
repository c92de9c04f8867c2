import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Job, Queue, QueueEvents } from 'bullmq';
import { EmopipeError, type ErrorCode } from '../../util/errors.js';
import type { Logger, ProgressReporter } from '../stage.js';
import type { RemoteEvent, StageExecutor, StageJob, StageJobDone } from './executor.js';
import { QUEUE_NAME, checkRedis, connectionOf, decodeError, parseRedisUrl, type RedisTarget } from './redis.js';

/** How long finished jobs stay in Redis (for a second coordinator to read their outcome). */
const KEEP_FINISHED_S = 3600;
/** How often a waiting coordinator checks that its job still exists (someone may have cancelled it). */
const EXISTS_POLL_MS = 2000;

/** The job id of a stage: its fingerprint, so two coordinators asking for one stage share one job. */
export function jobIdOf(fingerprint: string): string {
  return `fp-${fingerprint}`;
}

interface Hooks {
  progress?: ProgressReporter;
  log?: Logger;
}

/**
 * The coordinator's side of the BullMQ executor: each cache miss becomes a job, and this
 * waits for its completion (events over Redis), relaying the worker's progress and logs.
 */
export class BullmqExecutor implements StageExecutor {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  /** Jobs this coordinator added and has not seen finish (cancelled on Ctrl-C). */
  private readonly mine = new Set<string>();
  private readonly hooks = new Map<string, Hooks>();
  private readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  private constructor(readonly target: RedisTarget) {
    const connection = connectionOf(target);
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection });
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
    this.events.on('progress', ({ jobId, data }) => this.relay(jobId, data as unknown as RemoteEvent));
  }

  static async connect(url: string): Promise<BullmqExecutor> {
    const target = parseRedisUrl(url);
    await checkRedis(target);
    const ex = new BullmqExecutor(target);
    await Promise.all([ex.queue.waitUntilReady(), ex.events.waitUntilReady()]);
    return ex;
  }

  private relay(jobId: string, ev: RemoteEvent): void {
    const h = this.hooks.get(jobId);
    if (!h || !ev || typeof ev !== 'object') return;
    switch (ev.t) {
      case 'start':
        h.progress?.start(ev.total, ev.unit, ev.label);
        break;
      case 'tick':
        h.progress?.tick(ev.n, ev.info);
        break;
      case 'label':
        h.progress?.label(ev.text);
        break;
      case 'done':
        h.progress?.done();
        break;
      case 'info':
        h.log?.info(ev.message);
        break;
      case 'warn':
        h.log?.warn(ev.message);
        break;
    }
  }

  /** The job for this fingerprint, added unless one is already queued or running. */
  private async ensureJob(job: StageJob): Promise<Job> {
    const jobId = jobIdOf(job.fingerprint);
    for (;;) {
      const existing = await Job.fromId(this.queue, jobId);
      if (existing) {
        const state = await existing.getState();
        if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return existing;
        // An old outcome (the caller already found no entry): clear it and ask again.
        await existing.remove().catch(() => undefined);
      }
      const added = await this.queue.add(job.stage.name, { ...job, coordinator: this.id }, {
        jobId,
        attempts: 1,
        removeOnComplete: { age: KEEP_FINISHED_S },
        removeOnFail: { age: KEEP_FINISHED_S },
      });
      if ((added.data as { coordinator?: string }).coordinator === this.id) this.mine.add(jobId);
      return added;
    }
  }

  async compute(job: StageJob, hooks: { signal?: AbortSignal } & Hooks): Promise<StageJobDone> {
    if (hooks.signal?.aborted) throw new EmopipeError('E_INTERRUPTED', 'interrupted');
    const jobId = jobIdOf(job.fingerprint);
    this.hooks.set(jobId, hooks);
    let onAbort: (() => void) | undefined;
    let poll: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        const j = await this.ensureJob(job);
        const gone = new Promise<'gone'>((resolve) => {
          poll = setInterval(() => {
            void this.queue.getJobState(jobId).then((s) => s === 'unknown' && resolve('gone'), () => undefined);
          }, EXISTS_POLL_MS);
        });
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(new EmopipeError('E_INTERRUPTED', 'interrupted'));
          hooks.signal?.addEventListener('abort', onAbort, { once: true });
        });
        let outcome: unknown;
        try {
          outcome = await Promise.race([j.waitUntilFinished(this.events), gone, aborted]);
        } catch (e) {
          if (e instanceof EmopipeError && e.code === 'E_INTERRUPTED') await this.cancelIfQueued(jobId);
          if (e instanceof EmopipeError) throw e;
          const { code, message } = decodeError(errorText(e));
          throw new EmopipeError(code as ErrorCode, message);
        } finally {
          clearInterval(poll);
          if (onAbort) hooks.signal?.removeEventListener('abort', onAbort);
        }
        if (outcome === 'gone') continue; // removed under us (another coordinator cancelled): ask again
        return outcome as StageJobDone;
      }
    } finally {
      this.hooks.delete(jobId);
      this.mine.delete(jobId);
    }
  }

  /** Ctrl-C: remove this coordinator's jobs that no worker has taken yet (running ones finish). */
  async cancelQueued(): Promise<number> {
    let removed = 0;
    for (const jobId of [...this.mine]) if (await this.cancelIfQueued(jobId)) removed++;
    return removed;
  }

  private async cancelIfQueued(jobId: string): Promise<boolean> {
    if (!this.mine.has(jobId)) return false;
    const j = await Job.fromId(this.queue, jobId).catch(() => undefined);
    if (!j) return false;
    const state = await j.getState().catch(() => 'unknown');
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    try {
      await j.remove();
      this.mine.delete(jobId);
      return true;
    } catch {
      return false; // taken by a worker meanwhile
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
