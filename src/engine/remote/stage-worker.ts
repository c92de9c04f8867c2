import { availableParallelism, hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { EmopipeError, errorMessage } from '../../util/errors.js';
import type { StageSpec } from '../config.js';
import { fingerprintOf } from '../fingerprint.js';
import type { KindRegistry } from '../kinds.js';
import type { RunObserver } from '../observer.js';
import { resolvePathFrom, runStageCached, type StageEnv } from '../run.js';
import type { Logger, ProgressReporter, StageInput } from '../stage.js';
import { implementationVersion } from '../version.js';
import type { CacheBackend } from './backend.js';
import type { RemoteEvent, StageJob, StageJobDone } from './executor.js';
import { QUEUE_NAME, checkRedis, connectionOf, encodeError, parseRedisUrl } from './redis.js';

export interface StageWorkerOptions {
  queue: string;
  kinds: KindRegistry;
  cache: CacheBackend;
  /** Jobs this process runs at once. */
  concurrency: number;
  /** ctx.jobs of each stage (default: the cores divided among the concurrent jobs). */
  jobs?: number;
  /**
   * A job whose worker has not renewed its lock for this long is stalled and retried by
   * another worker (BullMQ's lockDuration; the stalled check runs at half this interval).
   */
  stallMs?: number;
  /** One line per job (the CLI writes it to stderr). */
  log(line: string): void;
}

export interface RunningWorker {
  id: string;
  /** Stop taking jobs, finish the current ones, disconnect. */
  close(): Promise<void>;
}

/** Progress and log calls of a stage, sent to the coordinator as job progress events (ticks batched). */
function relayTo(job: Job): { progress: ProgressReporter; log: Logger; flush(): void } {
  const send = (ev: RemoteEvent) => void job.updateProgress(ev as unknown as object).catch(() => undefined);
  let pending = 0;
  let info: Record<string, string | number> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending || info) send({ t: 'tick', n: pending, ...(info ? { info } : {}) });
    pending = 0;
    info = undefined;
  };
  return {
    progress: {
      start: (total, unit, label) => (flush(), send({ t: 'start', total, unit, ...(label !== undefined ? { label } : {}) })),
      tick: (n = 1, i) => {
        pending += n;
        if (i) info = i;
        timer ??= setTimeout(flush, 250);
      },
      label: (text) => (flush(), send({ t: 'label', text })),
      done: () => (flush(), send({ t: 'done' })),
    },
    log: {
      info: (message) => send({ t: 'info', message }),
      warn: (message) => send({ t: 'warn', message }),
    },
    flush,
  };
}

/** A user-facing failure: not retried (UnrecoverableError), its code and message reach the coordinator. */
function refuse(code: string, message: string): UnrecoverableError {
  return new UnrecoverableError(encodeError(code, message));
}

/** Compute one stage job: check the code version, pull inputs from the shared cache, run, publish. */
async function processJob(job: Job, id: string, opts: StageWorkerOptions, jobs: number): Promise<StageJobDone> {
  const data = job.data as StageJob;
  const name = data.stage.name;
  const kind = opts.kinds.get(data.stage.kind);
  if (!kind) throw refuse('E_UNKNOWN_STAGE_KIND', `worker ${id} refuses stage ${name}: it has no stage kind '${data.stage.kind}'`);
  const version = implementationVersion(kind.module);
  if (version !== data.parts.version) {
    throw refuse(
      'E_QUEUE',
      `worker ${id} refuses stage ${name}: its '${kind.kind}' implementation is version ${version.slice(0, 12)}, the job needs ${data.parts.version.slice(0, 12)} (run the same emopipe version on the coordinator and every worker)`,
    );
  }
  if (fingerprintOf(data.parts) !== data.fingerprint) throw refuse('E_QUEUE', `worker ${id} refuses stage ${name}: the job's fingerprint does not match its parts`);

  const inputs: StageInput[] = [];
  for (const u of data.inputs) {
    const look = await opts.cache.lookup(u.fingerprint, 'auto');
    if (look.state !== 'hit') {
      throw refuse('E_INPUT_MISSING', `worker ${id}: input ${u.name} (${u.fingerprint.slice(0, 12)}) of stage ${name} is ${look.state === 'miss' ? 'not' : 'corrupt'} in ${opts.cache.description}; coordinator and workers must share one cache`);
    }
    inputs.push({ name: u.name, kind: u.kind, dir: look.dir, ...(u.matrix ? { matrix: u.matrix } : {}) });
  }

  const spec: StageSpec = { name, kind, params: data.stage.params, needs: data.stage.needs, ...(data.stage.template ? { template: data.stage.template } : {}), ...(data.stage.matrix ? { matrix: data.stage.matrix } : {}) };
  const relay = relayTo(job);
  const observer: RunObserver = { progress: () => relay.progress, logger: () => relay.log, warn: (m) => relay.log.warn(m) };
  const resolvePath = resolvePathFrom(data.pipelineDir);
  const env: StageEnv = {
    cache: opts.cache,
    keyEnv: { seed: data.seed, resolvePath, dataDir: data.dataDir },
    ctxEnv: { seed: data.seed, pipelineDir: data.pipelineDir, dataDir: data.dataDir, jobs, observer, resolvePath },
    observer,
    verifyCache: false,
  };
  const t0 = performance.now();
  try {
    const out = await runStageCached(spec, data.fingerprint, inputs, env);
    return { worker: id, seconds: (performance.now() - t0) / 1000, status: out.status === 'cached' ? 'cached' : 'ran' };
  } catch (e) {
    // A stage's own failure (bad input, a bug): the same code and message as in-process, no retry.
    if (e instanceof EmopipeError) throw refuse(e.code, e.format());
    throw refuse('E_STAGE_FAILED', errorMessage(e));
  } finally {
    relay.flush();
  }
}

/** Start a BullMQ worker taking stage jobs from the queue at `opts.queue` (redis://HOST:PORT). */
export async function startStageWorker(opts: StageWorkerOptions): Promise<RunningWorker> {
  const target = parseRedisUrl(opts.queue);
  await checkRedis(target);
  const id = `${hostname()}:${process.pid}`;
  const concurrency = Math.max(1, Math.floor(opts.concurrency));
  const jobs = opts.jobs ?? Math.max(1, Math.floor(availableParallelism() / concurrency));
  const stallMs = opts.stallMs ?? 30_000;
  const worker = new Worker(QUEUE_NAME, (job) => processJob(job, id, opts, jobs), {
    connection: connectionOf(target),
    concurrency,
    lockDuration: stallMs,
    stalledInterval: Math.max(500, Math.floor(stallMs / 2)),
    // A job survives one dead worker and then some; a job that kills every worker it meets fails.
    maxStalledCount: 3,
  });
  worker.on('error', () => undefined);
  const started = new Map<string, number>();
  worker.on('active', (job) => started.set(job.id!, performance.now()));
  const seconds = (job: Job) => ((performance.now() - (started.get(job.id!) ?? performance.now())) / 1000).toFixed(1);
  worker.on('completed', (job, r: StageJobDone) => {
    const d = job.data as StageJob;
    opts.log(`worker ${id}: ${d.stage.name} ${d.fingerprint.slice(0, 12)} ${r.status} in ${seconds(job)} s`);
    started.delete(job.id!);
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const d = job.data as StageJob;
    opts.log(`worker ${id}: ${d.stage.name} ${d.fingerprint.slice(0, 12)} failed in ${seconds(job)} s: ${err.message.replace(/^\[E_[A-Z_]+\] /, '')}`);
    started.delete(job.id!);
  });
  await worker.waitUntilReady();
  return {
    id,
    async close() {
      await worker.close();
    },
  };
}
