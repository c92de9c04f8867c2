import type { Command } from 'commander';
import { isAbsolute, join, relative } from 'node:path';
import { loadPipeline, parsePipeline, selectStages, type Pipeline } from '../engine/config.js';
import { defaultJobs, defaultLocations } from '../engine/env.js';
import { Registry, type RunRecord } from '../engine/registry.js';
import { runPipeline, type RunResult } from '../engine/run.js';
import { viewDirName } from '../engine/view.js';
import { EmopipeError } from '../util/errors.js';
import { newExperimentId, parseSweep, sweepGrid } from '../engine/experiment.js';
import { collect, positiveInt, printJson, printError } from './common.js';
import { formatSeconds, formatValue, table } from './format.js';
import { loadKinds } from './kinds.js';
import { ProgressView } from './progress.js';
import { QUEUE_DEFAULT_JOBS, openRemote } from './remote.js';

interface RunFlags {
  set: string[];
  sweep?: string[];
  experiment?: string;
  jobs?: number;
  json?: boolean;
  verifyCache?: boolean;
  /** redis://HOST:PORT: cache misses become BullMQ jobs for `emopipe worker`s. */
  queue?: string;
}

/** After Ctrl-C or SIGTERM, how long the run may take to record itself before the process exits anyway. */
const STOP_GRACE_MS = 5000;

/**
 * Ctrl-C or SIGTERM: the first aborts running stages (their temp dirs are removed, locks
 * released; the cache only ever holds complete entries) and the run exits 130; a second exits
 * at once, and so does the first after STOP_GRACE_MS (a wait on someone else's lock must not
 * keep a terminated process alive).
 */
function interruptible(view: ProgressView): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) process.exit(130);
    view.line('! interrupted: stopping running stages (Ctrl-C again to quit now)');
    ac.abort();
    setTimeout(() => process.exit(130), STOP_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The `--json` contract: {run, pipeline, stages:[{name, kind, fingerprint, status, seconds, outputDir}], metrics}. */
export function runJson(r: RunResult): unknown {
  return {
    run: r.run,
    pipeline: r.pipeline,
    status: r.status,
    stages: r.stages.map((s) => ({
      name: s.name,
      kind: s.kind,
      fingerprint: s.fingerprint,
      status: s.status,
      seconds: Number(s.seconds.toFixed(3)),
      outputDir: s.outputDir,
      worker: s.worker ?? null,
      ...(s.matrix ? { matrix: s.matrix } : {}),
      ...(s.error ? { error: s.error.format() } : {}),
    })),
    metrics: r.metrics,
    ...(r.record?.experiment ? { experiment: r.record.experiment } : {}),
    ...(r.error ? { error: r.error.format() } : {}),
  };
}

async function execute(pipeline: Pipeline, flags: RunFlags, experiment?: string): Promise<RunResult> {
  new Registry(defaultLocations().artifactsDir).check(); // a broken registry fails now, not after the run
  const view = new ProgressView();
  const intr = interruptible(view);
  let remote: Awaited<ReturnType<typeof openRemote>> | undefined;
  try {
    remote = await openRemote(flags.queue);
    const result = await runPipeline(pipeline, {
      ...defaultLocations(),
      ...remote.options,
      jobs: flags.jobs ?? (flags.queue ? QUEUE_DEFAULT_JOBS : defaultJobs()),
      signal: intr.signal,
      observer: view,
      verifyCache: flags.verifyCache,
      experiment,
    });
    view.stop();
    const ran = result.stages.filter((s) => s.status === 'ran').length;
    const cached = result.stages.filter((s) => s.status === 'cached').length;
    if (result.error) printError(result.error);
    view.line(`run ${result.run.slice(0, 12)}  ${result.status}  ${formatSeconds(result.seconds)}  (${ran} ran, ${cached} cached)`);
    for (const [stage, m] of Object.entries(result.metrics)) {
      view.line(`  ${stage}: ${Object.entries(m).map(([k, v]) => `${k}=${formatValue(v)}`).join('  ')}`);
    }
    // Fan-in stages (a fold summary) say it in words: mean ± std.
    for (const s of result.stages) if (s.result.summary && pipeline.stages.find((x) => x.name === s.name)?.kind.fanIn) view.line(`${s.name}: ${s.result.summary}`);
    for (const s of result.stages) {
      if (!s.result.report || !s.outputDir) continue;
      const base = result.record?.artifactsDir ? join(result.record.artifactsDir, viewDirName(s.name)) : s.outputDir;
      view.line(`${s.name} report: ${relativeIfInside(join(base, s.result.report))}`);
    }
    if (flags.json) printJson(runJson(result));
    process.exitCode = result.status === 'ok' ? 0 : result.status === 'interrupted' ? 130 : 1;
    return result;
  } finally {
    intr.dispose();
    view.stop();
    await remote?.close();
  }
}

/**
 * `--sweep`: every combination of the swept values is one run (its `--set`s after the user's),
 * run one after the other so each gets every core; all are recorded with one experiment id.
 * Every grid point is loaded and validated before the first runs.
 */
async function runSweep(file: string, stages: string[], flags: RunFlags, kinds: Awaited<ReturnType<typeof loadKinds>>): Promise<void> {
  const grid = sweepGrid((flags.sweep ?? []).map(parseSweep));
  const pipelines = grid.map((sets) => ({ sets, pipeline: selectStages(loadPipeline(file, { kinds, overrides: [...flags.set, ...sets] }), stages) }));
  const experiment = flags.experiment ?? newExperimentId();
  const results: RunResult[] = [];
  let worst = 0;
  for (const [i, { sets, pipeline }] of pipelines.entries()) {
    process.stderr.write(`── experiment ${experiment}: run ${i + 1}/${pipelines.length}  ${sets.join('  ')}\n`);
    const r = await execute(pipeline, { ...flags, json: false }, experiment);
    results.push(r);
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    worst = Math.max(worst, code);
    if (r.status === 'interrupted') break;
  }
  process.stderr.write(`experiment ${experiment}: ${results.length} run(s); compare them with: emopipe compare ${experiment}\n`);
  if (flags.json) printJson({ experiment, runs: results.map((r, i) => ({ sets: pipelines[i]!.sets, ...(runJson(r) as object) })) });
  process.exitCode = worst;
}

/** A path relative to the working directory when it lies below it (shorter to read and click). */
function relativeIfInside(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
}

/** A recorded run's pipeline, exactly as it ran (defaults and --set already applied). */
export async function pipelineOfRecord(rec: RunRecord): Promise<Pipeline> {
  return parsePipeline(rec.resolvedYaml, { file: `run ${rec.run.slice(0, 12)} (${rec.file})`, dir: rec.pipelineDir, defaultName: rec.pipeline }, { kinds: await loadKinds() });
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('run a pipeline (only the named stages and what they need, if given)')
    .argument('<pipeline>', 'pipeline YAML file')
    .argument('[stages...]', 'stages to run (with their transitive needs)')
    .option('--set <key=value>', 'override a parameter: STAGE.KEY.SUB=VALUE (YAML value) or seed=N; repeatable', collect, [])
    .option('--sweep <key=v1,v2>', 'run once per value (YAML values, comma-separated); repeatable: the grid of all combinations, recorded as one experiment', collect, [])
    .option('--experiment <name>', 'record the run(s) under this experiment id (default for a sweep: a new exp-… id)')
    .option('-j, --jobs <n>', 'stages run at once, and worker threads per stage (default: CPU count)', positiveInt)
    .option('--json', 'print one JSON document describing the run (a sweep: {experiment, runs}) on stdout')
    .option('--queue <url>', 'compute cache misses on `emopipe worker`s of this Redis queue (redis://HOST:PORT)')
    .option('--verify-cache', 're-hash every file of every cache hit with SHA-256 (default: sizes, and CRC-32 of files written since their last check)')
    .action(async (file: string, stages: string[], flags: RunFlags) => {
      const kinds = await loadKinds();
      if (!flags.sweep?.length) {
        const pipeline = selectStages(loadPipeline(file, { kinds, overrides: flags.set }), stages);
        await execute(pipeline, flags, flags.experiment);
        return;
      }
      await runSweep(file, stages, flags, kinds);
    });

  program
    .command('reproduce')
    .description('rerun a recorded run with exactly its config; --verify recomputes without cache and compares outputs')
    .argument('<run>', 'run hash (prefix) or latest')
    .option('--verify', 'recompute every stage, bypassing the cache, and compare output content hashes')
    .option('-j, --jobs <n>', 'stages run at once', positiveInt)
    .option('--json', 'print one JSON document on stdout')
    .action(async (ref: string, flags: { verify?: boolean; jobs?: number; json?: boolean }) => {
      const rec = new Registry(defaultLocations().artifactsDir).find(ref);
      const pipeline = await pipelineOfRecord(rec);
      if (!flags.verify) {
        const result = await execute(pipeline, { set: [], jobs: flags.jobs, json: flags.json });
        if (result.status === 'ok' && result.run !== rec.run) {
          process.stderr.write(`note: run hash ${result.run.slice(0, 12)} differs from ${rec.run.slice(0, 12)}: stage code or external inputs changed since\n`);
        }
        return;
      }
      await verifyRun(rec, pipeline, flags);
    });
}

async function verifyRun(rec: RunRecord, pipeline: Pipeline, flags: { jobs?: number; json?: boolean }): Promise<void> {
  const view = new ProgressView();
  const intr = interruptible(view);
  let result: RunResult;
  try {
    result = await runPipeline(pipeline, { ...defaultLocations(), jobs: flags.jobs ?? defaultJobs(), signal: intr.signal, observer: view, noCache: true });
  } finally {
    intr.dispose();
    view.stop();
  }
  if (result.status !== 'ok') {
    throw result.error ?? new EmopipeError('E_STAGE_FAILED', 'verification run failed');
  }
  const rows: string[][] = [];
  const doc: { stage: string; recorded: string | null; recomputed: string | null; match: boolean }[] = [];
  let mismatches = 0;
  for (const s of result.stages) {
    const recorded = rec.stages.find((x) => x.name === s.name)?.contentHash ?? null;
    const match = recorded !== null && recorded === s.contentHash;
    if (!match) mismatches++;
    doc.push({ stage: s.name, recorded, recomputed: s.contentHash, match });
    rows.push([s.name, (recorded ?? '-').slice(0, 12), (s.contentHash ?? '-').slice(0, 12), match ? 'match' : 'MISMATCH']);
  }
  process.stderr.write(table(rows, ['stage', 'recorded', 'recomputed', 'result']) + '\n');
  process.stderr.write(mismatches ? `${mismatches} stage(s) did not reproduce\n` : `run ${rec.run.slice(0, 12)} reproduces: every output is byte-identical\n`);
  if (flags.json) printJson({ run: rec.run, reproduced: mismatches === 0, stages: doc });
  process.exitCode = mismatches ? 1 : 0;
}
