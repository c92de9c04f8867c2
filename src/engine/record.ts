import { resolvedYaml, type Pipeline } from './config.js';
import { Registry, type RunRecord } from './registry.js';
import type { RunResult } from './run.js';
import { writeRunView } from './view.js';

/**
 * Record a finished run: the per-run view `artifacts/<run12>/<stage>/` (successful runs only)
 * and one registry entry with the resolved config, every stage's facts and the metrics.
 */
export async function recordRun(
  pipeline: Pipeline,
  result: RunResult,
  opts: { artifactsDir: string; startedAt: string; experiment?: string },
): Promise<RunRecord> {
  const { stages, status, run } = result;
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
    startedAt: opts.startedAt,
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
      ...(o.matrix ? { matrix: o.matrix } : {}),
      ...(o.result.metrics ? { metrics: o.result.metrics } : {}),
      ...(o.result.summary ? { summary: o.result.summary } : {}),
      ...(o.error ? { error: o.error.format() } : {}),
    })),
    metrics: result.metrics,
    artifactsDir,
    ...(opts.experiment ? { experiment: opts.experiment } : {}),
  };
  await new Registry(opts.artifactsDir).add(rec);
  return rec;
}
