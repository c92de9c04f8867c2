import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { EmopipeError, errorMessage } from '../util/errors.js';
import { hashJson } from '../util/hash.js';
import { Rng } from '../util/rng.js';
import { Cache, contentHashOf, hashDirectory, type EntryManifest } from './cache.js';
import { resolvedYaml, type Pipeline, type StageSpec } from './config.js';
import { fingerprintOf, fingerprintParts, type FingerprintParts } from './fingerprint.js';
import { acquireLock } from './lock.js';
import { silentLogger, silentProgress, type RunObserver, type StageOutcome } from './observer.js';

export type { StageOutcome } from './observer.js';
import { Registry, type RunRecord, type RunStatus, type StageFacts, type StageStatus } from './registry.js';
import type { StageContext, StageInput, StageResult } from './stage.js';
import { writeRunView } from './view.js';
import { markActive } from './active.js';

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
}

export interface RunResult {
  run: string;
  pipeline: string;
  status: RunStatus;
  seconds: number;
  stages: StageOutcome[];
  metrics: Record<string, Record<string, number | string | null>>;
  /** The first stage failure (or the interruption), for the exit message. */
  error?: EmopipeError;
  record?: RunRecord;
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

interface Resolved {
  name: string;
  kind: string;
  contentHash: string;
  dir: string;
}

/**
 * Run a loaded pipeline: fingerprint each stage once its inputs' content hashes are known,
 * reuse cache hits, compute misses (independent stages concurrently), record the run.
 */
export async function runPipeline(pipeline: Pipeline, opts: EngineOptions): Promise<RunResult> {
  new Cache(opts.cacheDir).cleanStaleTmp();
  const unmark = markActive(opts.cacheDir);
  try {
    return await execPipeline(pipeline, opts);
  } finally {
    unmark();
  }
}

async function execPipeline(pipeline: Pipeline, opts: EngineOptions): Promise<RunResult> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const cache = new Cache(opts.cacheDir);
  const record = opts.record ?? !opts.noCache;
  const obs = opts.observer ?? {};
  const signal = opts.signal;
  const jobs = Math.max(1, Math.floor(opts.jobs));
  const resolvePath = resolvePathFrom(pipeline.dir);
  const scratch = opts.noCache ? (mkdirSync(cache.tmpDir, { recursive: true }), mkdtempSync(join(cache.tmpDir, `verify.${process.pid}.`))) : undefined;

  const queue = new PQueue({ concurrency: jobs });
  const outcomes = new Map<string, Promise<StageOutcome>>();
  let stop = false;

  const blank = (s: StageSpec, status: StageStatus): StageOutcome => ({
    name: s.name,
    kind: s.kind.kind,
    fingerprint: null,
    contentHash: null,
    status,
    seconds: 0,
    outputDir: null,
    params: s.params,
    parts: null,
    result: {},
  });

  const execute = async (s: StageSpec, ups: Resolved[]): Promise<StageOutcome> => {
    const started = performance.now();
    let parts: FingerprintParts | null = null;
    let fp: string | null = null;
    try {
      const external = s.kind.externalInputs ? await s.kind.externalInputs(s.params, { resolvePath, dataDir: opts.dataDir }) : undefined;
      parts = fingerprintParts(s.kind, s.params, pipeline.seed, ups.map((u) => ({ name: u.name, kind: u.kind, contentHash: u.contentHash })), external);
      fp = fingerprintOf(parts);
      const base = { ...blank(s, 'ran'), fingerprint: fp, parts };
      const inputs: StageInput[] = ups.map((u) => ({ name: u.name, kind: u.kind, dir: u.dir }));

      if (scratch) {
        const outDir = join(scratch, s.name);
        mkdirSync(outDir);
        obs.stageStarted?.(s.name, s.kind.kind, fp);
        const result = (await raceAbort(Promise.resolve(s.kind.run(makeContext(s, inputs, outDir))), signal)) ?? {};
        const files = await hashDirectory(outDir);
        return { ...base, contentHash: contentHashOf(files), outputDir: outDir, result, seconds: (performance.now() - started) / 1000 };
      }

      const verify = opts.verifyCache ? 'full' : 'auto';
      const cachedOutcome = (m: EntryManifest, dir: string): StageOutcome => ({
        ...base,
        status: 'cached',
        contentHash: m.contentHash,
        outputDir: dir,
        result: m.result ?? {},
        manifest: m,
        seconds: (performance.now() - started) / 1000,
      });
      let look = await cache.lookup(fp, verify);
      if (look.state === 'hit') return cachedOutcome(look.manifest, look.dir);
      if (look.state === 'corrupt') obs.warn?.(`cache entry ${fp.slice(0, 12)} of stage ${s.name} is corrupt (${look.reason}); recomputing`);

      for (;;) {
        const fpNow = fp;
        const lock = await acquireLock(cache.lockPath(fp), {
          signal,
          onWait: (owner, message) => obs.stageWaiting?.(s.name, owner, message),
          shouldStop: async () => (await cache.lookup(fpNow, 'size')).state === 'hit',
        });
        if (!lock) {
          look = await cache.lookup(fp, verify);
          if (look.state === 'hit') return cachedOutcome(look.manifest, look.dir);
          continue;
        }
        try {
          // Someone may have published while we waited for the lock.
          look = await cache.lookup(fp, verify);
          if (look.state === 'hit') return cachedOutcome(look.manifest, look.dir);
          if (look.state === 'corrupt') cache.evict(fp);
          await cache.verifyInputs(inputs);
          const staging = cache.begin(fp);
          try {
            obs.stageStarted?.(s.name, s.kind.kind, fp);
            const ranAt = performance.now();
            const result = (await raceAbort(Promise.resolve(s.kind.run(makeContext(s, inputs, staging.dir))), signal)) ?? {};
            const seconds = (performance.now() - ranAt) / 1000;
            const manifest = await cache.publish(staging, { stage: s.name, kind: s.kind.kind, seconds, result });
            return { ...base, contentHash: manifest.contentHash, outputDir: cache.entryDir(fp), result, manifest, seconds: (performance.now() - started) / 1000 };
          } catch (e) {
            cache.discard(staging);
            throw e;
          }
        } finally {
          lock.release();
        }
      }
    } catch (e) {
      const err = stageError(s.name, e);
      const status: StageStatus = err.code === 'E_INTERRUPTED' ? 'interrupted' : 'failed';
      return { ...blank(s, status), fingerprint: fp, parts, error: err, seconds: (performance.now() - started) / 1000 };
    }
  };

  const makeContext = (s: StageSpec, inputs: StageInput[], outDir: string): StageContext<Record<string, unknown>> => {
    const findInputs = (kind: string) => inputs.filter((i) => i.kind === kind);
    return {
      stageName: s.name,
      params: structuredClone(s.params),
      inputs,
      input(kind: string) {
        const found = findInputs(kind);
        if (found.length === 1) return found[0]!;
        throw new EmopipeError(
          'E_INPUT_MISSING',
          found.length === 0
            ? `stage ${s.name} needs an input of kind '${kind}' (its needs: ${s.needs.join(', ') || 'none'})`
            : `stage ${s.name} has ${found.length} inputs of kind '${kind}'; expected one`,
        );
      },
      maybeInput(kind: string) {
        return findInputs(kind)[0];
      },
      outDir,
      rng: new Rng(`${pipeline.seed}/${s.name}`),
      progress: obs.progress?.(s.name) ?? silentProgress,
      log: obs.logger?.(s.name) ?? silentLogger,
      signal: signal ?? new AbortController().signal,
      jobs,
      dataDir: opts.dataDir,
      pipelineDir: pipeline.dir,
      resolvePath,
    };
  };

  for (const s of pipeline.stages) {
    const deps = s.needs.map((n) => outcomes.get(n)!);
    outcomes.set(
      s.name,
      (async () => {
        const ups = await Promise.all(deps);
        if (stop || signal?.aborted || ups.some((u) => u.status !== 'cached' && u.status !== 'ran')) {
          return blank(s, signal?.aborted ? 'interrupted' : 'skipped');
        }
        const out = await queue.add(async () => {
          if (stop || signal?.aborted) return blank(s, signal?.aborted ? 'interrupted' : 'skipped');
          return execute(s, ups.map((u) => ({ name: u.name, kind: u.kind, contentHash: u.contentHash!, dir: u.outputDir! })));
        });
        if (out.status === 'failed' || out.status === 'interrupted') stop = true;
        obs.stageFinished?.(out);
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
  const run = runHash(pipeline.name, stages);
  const result: RunResult = {
    run,
    pipeline: pipeline.name,
    status,
    seconds: (performance.now() - t0) / 1000,
    stages,
    metrics,
    ...(failure?.error ? { error: failure.error } : signal?.aborted ? { error: interrupted() } : {}),
  };

  if (record) {
    let artifactsDir: string | null = null;
    if (status === 'ok') {
      const view = stages.filter((o) => o.manifest && o.outputDir).map((o) => ({ name: o.name, dir: o.outputDir!, manifest: o.manifest! }));
      artifactsDir = writeRunView(opts.artifactsDir, run, view);
    }
    const rec: RunRecord = {
      run,
      pipeline: pipeline.name,
      file: pipeline.file,
      pipelineDir: pipeline.dir,
      startedAt,
      seconds: result.seconds,
      status,
      seed: pipeline.seed,
      resolvedYaml: resolvedYaml(pipeline),
      stages: stages.map((o) => ({
        name: o.name,
        kind: o.kind,
        fingerprint: o.fingerprint,
        contentHash: o.contentHash,
        status: o.status,
        seconds: o.seconds,
        outputDir: o.outputDir,
        params: o.params,
        parts: o.parts,
        ...(o.result.metrics ? { metrics: o.result.metrics } : {}),
        ...(o.result.summary ? { summary: o.result.summary } : {}),
        ...(o.error ? { error: o.error.format() } : {}),
      })),
      metrics,
      artifactsDir,
    };
    await new Registry(opts.artifactsDir).add(rec);
    result.record = rec;
  }
  return result;
}
