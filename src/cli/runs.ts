import type { Command } from 'commander';
import { defaultLocations } from '../engine/env.js';
import { InvalidArgumentError } from 'commander';
import { Registry, RUN_STATUSES, type RunQuery, type RunRecord, type RunStatus, type RunSummary } from '../engine/registry.js';
import { diffRuns } from '../engine/run-diff.js';
import { positiveInt, printJson } from './common.js';

export { diffRuns } from '../engine/run-diff.js';
import { formatSeconds, formatValue, shortDate, table } from './format.js';

/** The number a run is judged by: an `accuracy` metric if any stage reports one, else the last stage's first metric. */
export function headlineMetric(rec: Pick<RunRecord, 'metrics'>): string {
  const stages = Object.keys(rec.metrics ?? {});
  // A fold summary: its test (else validation) accuracy, mean ± std over the instances.
  for (const s of [...stages].reverse()) {
    const m = rec.metrics[s]!;
    for (const p of ['test_', '']) {
      const mean = m[`${p}accuracy_mean`];
      const std = m[`${p}accuracy_std`];
      if (typeof mean === 'number' && typeof std === 'number') return `${p}accuracy=${formatValue(mean)}±${formatValue(std)} (${s})`;
    }
  }
  for (const s of [...stages].reverse()) {
    const v = rec.metrics[s]!['accuracy'];
    if (v !== undefined) return `accuracy=${formatValue(v)} (${s})`;
  }
  const last = stages[stages.length - 1];
  if (!last) return '';
  const [k, v] = Object.entries(rec.metrics[last]!)[0] ?? [];
  return k === undefined ? '' : `${k}=${formatValue(v)} (${last})`;
}

/** A metric by `STAGE.NAME`, or a bare `NAME` from the last stage that reports it (as the registry sorts). */
export function metricValue(rec: Pick<RunRecord, 'metrics'>, spec: string): number | string | null | undefined {
  const dot = spec.indexOf('.');
  if (dot > 0) return rec.metrics?.[spec.slice(0, dot)]?.[spec.slice(dot + 1)];
  for (const m of Object.values(rec.metrics ?? {}).reverse()) if (m[spec] !== undefined) return m[spec];
  return undefined;
}

function runStatus(v: string): RunStatus {
  if (!(RUN_STATUSES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${RUN_STATUSES.join(', ')}`);
  return v as RunStatus;
}

/** `--since`: an ISO date/time, or a duration ago (`90m`, `12h`, `7d`, `2w`), as an ISO-8601 UTC time. */
export function parseSince(v: string, now = Date.now()): string {
  const ago = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(v.trim());
  if (ago) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[ago[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now - Number(ago[1]) * unit * 1000).toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected a date (2026-11-30, 2026-11-30T14:00Z) or a duration ago (90m, 12h, 7d)');
  return new Date(t).toISOString();
}

function parseSort(v: string): NonNullable<RunQuery['sortBy']> {
  const m = /^(.+?)(?::(asc|desc))?$/.exec(v.trim());
  if (!m || !m[1]) throw new InvalidArgumentError('expected a metric name, e.g. accuracy or evaluate.uar, optionally with :asc');
  return { metric: m[1], order: (m[2] as 'asc' | 'desc' | undefined) ?? 'desc' };
}

function registry(): Registry {
  return new Registry(defaultLocations().artifactsDir);
}

export function registerRunsCommands(program: Command): void {
  program
    .command('runs')
    .description('past runs: hash, date, pipeline, status, headline metric')
    .option('--json', 'print the run records as JSON')
    .option('--pipeline <name>', 'only runs of this pipeline')
    .option('--experiment <id>', 'only runs of this experiment (sweep)')
    .option('--status <status>', `only runs with this status (${RUN_STATUSES.join(', ')})`, runStatus)
    .option('--since <when>', 'only runs started since a date/time (2026-11-30, 2026-11-30T14:00Z) or a duration ago (90m, 12h, 7d)', (v: string) => parseSince(v))
    .option('--sort <metric>', 'best first by a metric: NAME (the last stage reporting it) or STAGE.NAME; append :asc for lowest first', parseSort)
    .option('-n, --limit <n>', 'show only the last N runs (the best N with --sort)', positiveInt)
    .action((flags: { json?: boolean; pipeline?: string; experiment?: string; status?: RunStatus; since?: string; sort?: RunQuery['sortBy']; limit?: number }) => {
      const runs = registry().query({ pipeline: flags.pipeline, experiment: flags.experiment, status: flags.status, since: flags.since, sortBy: flags.sort, limit: flags.limit });
      if (flags.json) {
        printJson(runs.map((r) => ({ run: r.run, startedAt: r.startedAt, pipeline: r.pipeline, ...(r.experiment ? { experiment: r.experiment } : {}), status: r.status, seconds: r.seconds, metrics: r.metrics })));
        return;
      }
      if (!runs.length) {
        process.stdout.write('no runs recorded yet\n');
        return;
      }
      const sort = flags.sort;
      const metric = (r: RunSummary) => (sort ? `${sort.metric}=${formatValue(metricValue(r, sort.metric) ?? '-')}` : headlineMetric(r));
      // The experiment column appears once some run belongs to one (a --sweep).
      const exp = runs.some((r) => r.experiment);
      const rows = runs.map((r) => [r.run.slice(0, 12), shortDate(r.startedAt), r.pipeline, ...(exp ? [r.experiment ?? ''] : []), r.status, metric(r)]);
      process.stdout.write(table(rows, ['run', 'date', 'pipeline', ...(exp ? ['experiment'] : []), 'status', 'metric']) + '\n');
    });

  program
    .command('show')
    .description("a run's resolved config, each stage's fingerprint, cached/ran, time, outputs, metrics")
    .argument('<run>', 'run hash (prefix) or latest')
    .option('--json', 'print the run record as JSON')
    .action((ref: string, flags: { json?: boolean }) => {
      const r = registry().find(ref);
      if (flags.json) {
        printJson(r);
        return;
      }
      const out: string[] = [];
      out.push(`run       ${r.run}`);
      out.push(`pipeline  ${r.pipeline}  (${r.file})`);
      out.push(`date      ${shortDate(r.startedAt)}   status ${r.status}   ${formatSeconds(r.seconds)}`);
      if (r.experiment) out.push(`experiment ${r.experiment}`);
      if (r.artifactsDir) out.push(`artifacts ${r.artifactsDir}`);
      out.push('', 'stages:');
      out.push(
        table(
          r.stages.map((s) => [s.name, s.kind, (s.fingerprint ?? '-').slice(0, 12), s.status, formatSeconds(s.seconds), s.outputDir ?? s.error ?? '']),
          ['stage', 'kind', 'fingerprint', 'status', 'time', 'output'],
        ).replace(/^/gm, '  '),
      );
      const metrics = Object.entries(r.metrics ?? {});
      if (metrics.length) {
        out.push('', 'metrics:');
        for (const [stage, m] of metrics) out.push(`  ${stage}: ${Object.entries(m).map(([k, v]) => `${k}=${formatValue(v)}`).join('  ')}`);
      }
      out.push('', 'resolved config:', r.resolvedYaml.trimEnd().replace(/^/gm, '  '));
      process.stdout.write(out.join('\n') + '\n');
    });

  program
    .command('diff')
    .description('parameter and metric differences between two runs')
    .argument('<a>', 'run hash (prefix) or latest')
    .argument('<b>', 'run hash (prefix) or latest')
    .option('--json', 'print the differences as JSON')
    .action((ra: string, rb: string, flags: { json?: boolean }) => {
      const reg = registry();
      const a = reg.find(ra);
      const b = reg.find(rb);
      const d = diffRuns(a, b);
      if (flags.json) {
        printJson({ a: a.run, b: b.run, ...d });
        return;
      }
      const out = [`${a.run.slice(0, 12)} → ${b.run.slice(0, 12)}`, '', 'params:'];
      out.push(...(d.params.length ? d.params.map((p) => `  ${p}`) : ['  (same)']));
      out.push('', 'metrics:');
      out.push(...(d.metrics.length ? d.metrics.map((p) => `  ${p}`) : ['  (same)']));
      process.stdout.write(out.join('\n') + '\n');
    });
}
