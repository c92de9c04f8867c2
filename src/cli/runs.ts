import type { Command } from 'commander';
import { defaultLocations } from '../engine/env.js';
import { Registry, type RunRecord } from '../engine/registry.js';
import { paramChanges } from '../engine/status.js';
import { printJson } from './common.js';
import { formatSeconds, formatValue, shortDate, table } from './format.js';

/** The number a run is judged by: an `accuracy` metric if any stage reports one, else the last stage's first metric. */
export function headlineMetric(rec: RunRecord): string {
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

function registry(): Registry {
  return new Registry(defaultLocations().artifactsDir);
}

function flatMetrics(rec: RunRecord): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [stage, m] of Object.entries(rec.metrics ?? {})) for (const [k, v] of Object.entries(m)) out.set(`${stage}.${k}`, v);
  return out;
}

export function diffRuns(a: RunRecord, b: RunRecord): { params: string[]; metrics: string[] } {
  const params: string[] = [];
  if (a.seed !== b.seed) params.push(`seed changed ${a.seed} → ${b.seed}`);
  const names = [...new Set([...a.stages.map((s) => s.name), ...b.stages.map((s) => s.name)])];
  for (const n of names) {
    const sa = a.stages.find((s) => s.name === n);
    const sb = b.stages.find((s) => s.name === n);
    if (!sa) params.push(`stage ${n} only in ${b.run.slice(0, 12)}`);
    else if (!sb) params.push(`stage ${n} only in ${a.run.slice(0, 12)}`);
    else {
      if (sa.kind !== sb.kind) params.push(`${n} kind changed ${sa.kind} → ${sb.kind}`);
      else if (sa.parts && sb.parts && sa.parts.version !== sb.parts.version) params.push(`${n}: code of kind ${sa.kind} changed`);
      params.push(...paramChanges(n, sa.params, sb.params));
    }
  }
  const ma = flatMetrics(a);
  const mb = flatMetrics(b);
  const metrics: string[] = [];
  for (const k of [...new Set([...ma.keys(), ...mb.keys()])].sort()) {
    const va = ma.get(k);
    const vb = mb.get(k);
    if (JSON.stringify(va) === JSON.stringify(vb)) continue;
    const delta = typeof va === 'number' && typeof vb === 'number' ? `  (${vb - va >= 0 ? '+' : ''}${formatValue(vb - va)})` : '';
    metrics.push(`${k}: ${va === undefined ? '-' : formatValue(va)} → ${vb === undefined ? '-' : formatValue(vb)}${delta}`);
  }
  return { params, metrics };
}

export function registerRunsCommands(program: Command): void {
  program
    .command('runs')
    .description('past runs: hash, date, pipeline, status, headline metric')
    .option('--json', 'print the run records as JSON')
    .option('-n, --limit <n>', 'show only the last N runs', (v) => Number(v))
    .action((flags: { json?: boolean; limit?: number }) => {
      let runs = registry().list();
      if (flags.limit) runs = runs.slice(-flags.limit);
      if (flags.json) {
        printJson(runs.map((r) => ({ run: r.run, startedAt: r.startedAt, pipeline: r.pipeline, status: r.status, seconds: r.seconds, metrics: r.metrics, ...(r.experiment ? { experiment: r.experiment } : {}) })));
        return;
      }
      if (!runs.length) {
        process.stdout.write('no runs recorded yet\n');
        return;
      }
      // The experiment column appears once some run belongs to one (a --sweep).
      const exp = runs.some((r) => r.experiment);
      const rows = runs.map((r) => [r.run.slice(0, 12), shortDate(r.startedAt), r.pipeline, ...(exp ? [r.experiment ?? ''] : []), r.status, headlineMetric(r)]);
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
