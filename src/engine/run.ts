import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { EmopipeError, errorMessage } from '../util/errors.js';
import { hashJson } from '../util/hash.js';
import { contentHashOf, hashDirectory, type EntryManifest } from './cache.js';
import type { Pipeline, StageSpec } from './config.js';
import { stageContext, type ContextEnv } from './context.js';
import type { FingerprintParts } from './fingerprint.js';
import type { RunObserver, RunResult, StageOutcome } from './observer.js';

export type { RunResult, StageOutcome } from './observer.js';
import { recordRun } from './record.js';
import type { RunStatus, StageStatus } from './registry.js';
import type { StageInput, StageResult } from './stage.js';
import { stageKey, type KeyEnv } from './stage-key.js';
import { markActive } from './active.js';
import type { CacheBackend } from './remote/backend.js';
import { LocalBackend } from './remote/local-backend.js';
import type { StageExecutor } from './remote/executor.js';

export interface EngineOptions {
  /** Cache root (EMOPIPE_CACHE, default ./cache). */
  cacheDir: string;
  /** Run registry and views (EMOPIPE_ARTIFACTS, default ./artifacts). */
  artifactsDir: string;
  /** ctx.dataDir (EMOPIPE_DATA, default ./data). */
  dataDir: string;
  /** Stages run at once, and ctx.jobs for each. */
  jobs: number;
  signal?: AbortSignal;
  observer?: RunObserver;
  /** Re-hash every file of every cache hit with SHA-256 (default: see Cache.lookup 'auto'). */
  verifyCache?: boolean;
  /** Recompute every stage into temp dirs, reading and writing no cache entry (`reproduce --verify`). */
  noCache?: boolean;
  /** Record the run in the registry and write artifacts/<run>/ (default: true unless noCache). */
  record?: boolean;
  /** Experiment id recorded with the run (the runs of one `--sweep` share it). */
  experiment?: string;
  /** Where entries live (default: the directory `cacheDir`); e.g. the S3 backend. */
  cache?: CacheBackend;
  /** Compute cache misses elsewhere (e.g. BullMQ workers) instead of in this process. */
  executor?: StageExecutor;
}

/** The run hash: every stage's fingerprint (plus the pipeline name). */
export function runHash(pipeline: string, stages: { name: string; fingerprint: string | null }[]): string {
  return hashJson({ pipeline, stages: stages.map((s) => [s.name, s.fingerprint]) });
}

function interrupted(): EmopipeError {
  return new EmopipeError('E_INTERRUPTED', 'interrupted');
}

/** Resolve with `p`, or reject as soon as `signal` aborts (the stage may keep running; the caller exits). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(interrupted());
  return new Promise<T>((res, rej) => {
    const onAbort = () => rej(interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        res(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        rej(e);
      },
    );
  });
}

function stageError(stage: string, e: unknown): EmopipeError {
  if (e instanceof EmopipeError && e.code === 'E_INTERRUPTED') return e;
  // Keep the stage's own code (E_WAV_INVALID …) and file location for the message.
  if (e instanceof EmopipeError) return new EmopipeError(e.code, `stage ${stage} failed: ${e.format()}`, { cause: e });
  return new EmopipeError('E_STAGE_FAILED', `stage ${stage} failed: ${errorMessage(e)}`, { cause: e });
}

export function resolvePathFrom(dir: string): (p: string) => string {
  return (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
}

/** An upstream stage's finished output, as its dependants see it. */
interface Resolved {
  name: string;
  fingerprint: string;
  kind: string;
  contentHash: string;
  dir: string;
  matrix?: Record<string, unknown>;
}

/** Everything one stage execution needs besides the stage itself. */
export interface StageEnv {
  cache: CacheBackend;
  /** Set: misses are computed by this executor (remote workers), not in this process. */
  executor?: StageExecutor;
  keyEnv: KeyEnv;
  ctxEnv: ContextEnv;
  observer: RunObserver;
  signal?: AbortSignal;
  verifyCache: boolean;
  /** `reproduce --verify`: compute into this scratch dir, bypassing the cache. */
  scratch?: string;
}

/**
 * Run a loaded pipeline: fingerprint each stage once its inputs' content hashes are known,
 * reuse cache hits, compute misses (independent stages concurrently), record the run.
 */
export async function runPipeline(pipeline: Pipeline, opts: EngineOptions): Promise<RunResult> {
  const cache = opts.cache ?? new LocalBackend(opts.cacheDir);
  cache.cleanStaleTmp();
  const unmark = markActive(cache.localRoot);
  try {
    return await execPipeline(pipeline, opts, cache);
  } finally {
    unmark();
  }
}

function blankOutcome(s: StageSpec, status: StageStatus): StageOutcome {
  return {
    name: s.name,
    kind: s.kind.kind,
    fingerprint: null,
    contentHash: null,
    status,
    seconds: 0,
    outputDir: null,
    params: s.params,
    parts: null,
    ...(s.matrix ? { matrix: s.matrix } : {}),
    result: {},
  };
}

/** Planning and scheduling: each stage starts once its needs are done, at most `jobs` at once. */
async function execPipeline(pipeline: Pipeline, opts: EngineOptions, cache: CacheBackend): Promise<RunResult> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const signal = opts.signal;
  const jobs = Math.max(1, Math.floor(opts.jobs));
  const resolvePath = resolvePathFrom(pipeline.dir);
  const scratch = opts.noCache ? (mkdirSync(cache.tmpDir, { recursive: true }), mkdtempSync(join(cache.tmpDir, `verify.${process.pid}.`))) : undefined;
  const env: StageEnv = {
    cache,
    ...(opts.executor && !opts.noCache ? { executor: opts.executor } : {}),
    keyEnv: { seed: pipeline.seed, resolvePath, dataDir: opts.dataDir },
    ctxEnv: { seed: pipeline.seed, pipelineDir: pipeline.dir, dataDir: opts.dataDir, jobs, signal, observer: opts.observer, resolvePath },
    observer: opts.observer ?? {},
    signal,
    verifyCache: opts.verifyCache ?? false,
    scratch,
  };

  const queue = new PQueue({ concurrency: jobs });
  const outcomes = new Map<string, Promise<StageOutcome>>();
  let stop = false;
  for (const s of pipeline.stages) {
    const deps = s.needs.map((n) => outcomes.get(n)!);
    outcomes.set(
      s.name,
      (async () => {
        const ups = await Promise.all(deps);
        if (stop || signal?.aborted || ups.some((u) => u.status !== 'cached' && u.status !== 'ran')) {
          return blankOutcome(s, signal?.aborted ? 'interrupted' : 'skipped');
        }
        const out = await queue.add(async () => {
          if (stop || signal?.aborted) return blankOutcome(s, signal?.aborted ? 'interrupted' : 'skipped');
          return executeStage(s, ups.map((u) => ({ name: u.name, fingerprint: u.fingerprint!, kind: u.kind, contentHash: u.contentHash!, dir: u.outputDir!, ...(u.matrix ? { matrix: u.matrix } : {}) })), env);
        });
        if (out.status === 'failed' || out.status === 'interrupted') stop = true;
        env.observer.stageFinished?.(out);
        return out;
      })(),
    );
  }
  const stages = await Promise.all(pipeline.stages.map((s) => outcomes.get(s.name)!));
  if (scratch) rmSync(scratch, { recursive: true, force: true });

  const failure = stages.find((o) => o.status === 'failed') ?? stages.find((o) => o.status === 'interrupted');
  const status: RunStatus = signal?.aborted ? 'interrupted' : failure ? 'failed' : 'ok';
  const metrics: RunResult['metrics'] = {};
  for (const o of stages) if (o.result.metrics && Object.keys(o.result.metrics).length) metrics[o.name] = o.result.metrics;
  const result: RunResult = {
    run: runHash(pipeline.name, stages),
    pipeline: pipeline.name,
    status,
    seconds: (performance.now() - t0) / 1000,
    stages,
    metrics,
    ...(failure?.error ? { error: failure.error } : signal?.aborted ? { error: interrupted() } : {}),
  };
  if (opts.record ?? !opts.noCache) {
    result.record = await recordRun(pipeline, result, { artifactsDir: opts.artifactsDir, startedAt, experiment: opts.experiment });
  }
  return result;
}

/** One stage: compute its key, then reuse or compute its output (or, verifying, recompute it). */
async function executeStage(s: StageSpec, ups: Resolved[], env: StageEnv): Promise<StageOutcome> {
  const started = performance.now();
  let parts: FingerprintParts | null = null;
  let fp: string | null = null;
  try {
    ({ parts, fingerprint: fp } = await stageKey(s, ups.map((u) => ({ name: u.name, kind: u.kind, contentHash: u.contentHash })), env.keyEnv));
    const base: StageOutcome = { ...blankOutcome(s, 'ran'), fingerprint: fp, parts };
    const inputs: StageInput[] = ups.map((u) => ({ name: u.name, kind: u.kind, dir: u.dir, ...(u.matrix ? { matrix: u.matrix } : {}) }));
    const out = env.scratch
      ? await runStageScratch(s, fp, inputs, env, env.scratch)
      : env.executor
        ? await runStageRemote(s, fp, parts, ups, env, env.executor)
        : await runStageCached(s, fp, inputs, env);
    return { ...base, ...out, seconds: (performance.now() - started) / 1000 };
  } catch (e) {
    const err = stageError(s.name, e);
    const status: StageStatus = err.code === 'E_INTERRUPTED' ? 'interrupted' : 'failed';
    return { ...blankOutcome(s, status), fingerprint: fp, parts, error: err, seconds: (performance.now() - started) / 1000 };
  }
}

type Produced = Pick<StageOutcome, 'status' | 'contentHash' | 'outputDir' | 'result' | 'worker'> & { manifest?: EntryManifest };

/** Call the stage's run() into `outDir`, abandoning it on Ctrl-C. */
async function invoke(s: StageSpec, fp: string, inputs: StageInput[], outDir: string, env: StageEnv): Promise<StageResult> {
  env.observer.stageStarted?.(s.name, s.kind.kind, fp);
  return (await raceAbort(Promise.resolve(s.kind.run(stageContext(s, inputs, outDir, env.ctxEnv))), env.signal)) ?? {};
}

/** Verify mode (`reproduce --verify`): recompute into a scratch dir, reading and writing no cache entry. */
async function runStageScratch(s: StageSpec, fp: string, inputs: StageInput[], env: StageEnv, scratch: string): Promise<Produced> {
  const outDir = join(scratch, s.name);
  mkdirSync(outDir);
  const result = await invoke(s, fp, inputs, outDir, env);
  const files = await hashDirectory(outDir);
  return { status: 'ran', contentHash: contentHashOf(files), outputDir: outDir, result };
}

/**
 * Cache lookup, lock, compute and publish: a hit is reused; a miss is computed under the
 * fingerprint's lock (so concurrent runs compute it once) into a staging dir that is published
 * atomically; a corrupt entry is reported, evicted and recomputed.
 */
export async function runStageCached(s: StageSpec, fp: string, inputs: StageInput[], env: StageEnv): Promise<Produced> {
  const { cache, observer: obs, signal } = env;
  const verify = env.verifyCache ? 'full' : 'auto';
  const cached = (m: EntryManifest, dir: string): Produced => ({ status: 'cached', contentHash: m.contentHash, outputDir: dir, result: m.result ?? {}, manifest: m });
  let look = await cache.lookup(fp, verify);
  if (look.state === 'hit') return cached(look.manifest, look.dir);
  if (look.state === 'corrupt') obs.warn?.(`cache entry ${fp.slice(0, 12)} of stage ${s.name} is corrupt (${look.reason}); recomputing`);

  for (;;) {
    const lock = await cache.lock(fp, {
      signal,
      onWait: (owner, message) => obs.stageWaiting?.(s.name, owner, message),
      shouldStop: async () => (await cache.lookup(fp, 'size')).state === 'hit',
    });
    if (!lock) {
      look = await cache.lookup(fp, verify);
      if (look.state === 'hit') return cached(look.manifest, look.dir);
      continue;
    }
    try {
      // Someone may have published while we waited for the lock.
      look = await cache.lookup(fp, verify);
      if (look.state === 'hit') return cached(look.manifest, look.dir);
      if (look.state === 'corrupt') await cache.evict(fp);
      await cache.verifyInputs(inputs);
      const staging = cache.begin(fp);
      try {
        const ranAt = performance.now();
        const result = await invoke(s, fp, inputs, staging.dir, env);
        const seconds = (performance.now() - ranAt) / 1000;
        const { manifest, dir } = await cache.publish(staging, { stage: s.name, kind: s.kind.kind, seconds, result });
        return { status: 'ran', contentHash: manifest.contentHash, outputDir: dir, result, manifest };
      } catch (e) {
        cache.discard(staging);
        throw e;
      }
    } finally {
      lock.release();
    }
  }
}

/**
 * A miss computed by a remote worker: the job names the stage, its key and its inputs by
 * fingerprint (the worker pulls them from the shared cache); the result is read back from
 * the cache, verified like any other entry.
 */
async function runStageRemote(s: StageSpec, fp: string, parts: FingerprintParts, ups: Resolved[], env: StageEnv, executor: StageExecutor): Promise<Produced> {
  const { cache, observer: obs } = env;
  const verify = env.verifyCache ? 'full' : 'auto';
  let look = await cache.lookup(fp, verify);
  if (look.state === 'hit') return { status: 'cached', contentHash: look.manifest.contentHash, outputDir: look.dir, result: look.manifest.result ?? {}, manifest: look.manifest };
  if (look.state === 'corrupt') {
    obs.warn?.(`cache entry ${fp.slice(0, 12)} of stage ${s.name} is corrupt (${look.reason}); recomputing`);
    await cache.evict(fp);
  }
  obs.stageStarted?.(s.name, s.kind.kind, fp);
  const done = await executor.compute(
    {
      fingerprint: fp,
      parts,
      stage: { name: s.name, kind: s.kind.kind, params: s.params, needs: s.needs, ...(s.template ? { template: s.template } : {}), ...(s.matrix ? { matrix: s.matrix } : {}) },
      seed: env.ctxEnv.seed,
      pipelineDir: env.ctxEnv.pipelineDir,
      dataDir: env.ctxEnv.dataDir,
      inputs: ups.map((u) => ({ name: u.name, kind: u.kind, fingerprint: u.fingerprint, ...(u.matrix ? { matrix: u.matrix } : {}) })),
    },
    { signal: env.signal, progress: obs.progress?.(s.name), log: obs.logger?.(s.name) },
  );
  look = await cache.lookup(fp, verify);
  if (look.state !== 'hit') {
    throw new EmopipeError('E_CACHE_CORRUPT', `worker ${done.worker} reported stage ${s.name} done, but its cache entry ${fp.slice(0, 12)} is ${look.state === 'miss' ? 'missing' : `corrupt (${look.reason})`} in ${cache.description}`);
  }
  return { status: 'ran', contentHash: look.manifest.contentHash, outputDir: look.dir, result: look.manifest.result ?? {}, manifest: look.manifest, worker: done.worker };
}
