/**
 * bench:registry — the run registry at sweep scale. Runs the demo once to fill a cache, then fills
 * a registry with N generated runs shaped like that run (a sweep: the upstream stages are shared,
 * train and evaluate differ per run, experiments of 100 runs) and measures, at N runs:
 *  - registry_ms: what a fully cached run spends in the registry, in a fresh process as `run`
 *    does it (load the module and SQLite, open + check, add one run, close);
 *  - the whole cached demo run, wall, Node start-up included, with an empty and with the full
 *    registry (`node bin/emopipe.js run pipelines/demo.yaml`);
 *  - `runs --limit 50`, `runs --sort accuracy --limit 50`, `show <prefix>`, wall;
 *  - the database size per run (after a WAL checkpoint).
 * Figures are medians of --repeat runs (default 5).
 *
 *   npm run bench:registry [-- --runs 10000 --repeat 5 --cache DIR [--data DIR] --demo-as-is --keep]
 *
 * The demo runs with train.epochs=1 (the registry's work does not depend on the epochs; with
 * --demo-as-is, as written). --cache DIR (and --data DIR) reuse a cache that already holds that
 * run, e.g. ./cache and ./data after `npx emopipe run pipelines/demo.yaml` with --demo-as-is;
 * without --cache the demo is first run into a temp cache (about a minute).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Registry, type RunRecord } from '../src/engine/registry.js';
import { packageRoot } from '../src/util/paths.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const N = Number(arg('runs') ?? 10_000);
const repeat = Number(arg('repeat') ?? 5);
const keep = process.argv.includes('--keep');
const root = packageRoot();
const bin = join(root, 'bin', 'emopipe.js');
const demo = join(root, 'pipelines', 'demo.yaml');
const work = mkdtempSync(join(tmpdir(), 'emopipe-bench-registry-'));
const cacheDir = arg('cache') ?? join(work, 'cache');
const dataDir = arg('data') ?? (arg('cache') ? (process.env.EMOPIPE_DATA ?? join(root, 'data')) : join(work, 'data'));
const overrides = process.argv.includes('--demo-as-is') ? [] : ['--set', 'train.epochs=1'];

function env(artifactsDir: string): NodeJS.ProcessEnv {
  return { ...process.env, EMOPIPE_CACHE: cacheDir, EMOPIPE_ARTIFACTS: artifactsDir, EMOPIPE_DATA: dataDir };
}

/** Median wall time (ms) of `node args...`, which must exit 0. */
function wall(args: string[], artifactsDir: string, times = repeat): number {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { env: env(artifactsDir), encoding: 'utf8' });
    ms.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  return median(ms);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function hex(i: number, salt: string): string {
  return createHash('sha256').update(`${salt}${i}`).digest('hex');
}

/** A run of the sweep: template's upstream stages as they are (cached), train/evaluate with their own params, fingerprints and metrics. */
function generated(t: RunRecord, i: number): RunRecord {
  const lr = 1e-4 * (1 + (i % 100));
  const accuracy = Math.round(((i * 7919) % 1000) / 10) / 100;
  return {
    ...t,
    run: hex(i, 'b'),
    experiment: `sweep-${Math.floor(i / 100)}`,
    startedAt: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 60_000).toISOString(),
    stages: t.stages.map((s) => {
      if (s.name !== 'train' && s.name !== 'evaluate') return { ...s, status: 'cached' as const, seconds: 0.002 + (i % 10) / 1000 };
      const metrics = s.metrics ? Object.fromEntries(Object.entries(s.metrics).map(([k, v]) => [k, typeof v === 'number' ? accuracy : v])) : undefined;
      return { ...s, fingerprint: hex(i, s.name === 'train' ? 'c' : 'd'), contentHash: hex(i, 'e'), params: { ...s.params, ...(s.name === 'train' ? { lr: { ...(s.params.lr as object), initial: lr } } : {}) }, ...(metrics ? { metrics } : {}) };
    }),
    metrics: Object.fromEntries(Object.entries(t.metrics).map(([st, m]) => [st, Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? accuracy : v]))])),
  };
}

/** In a fresh process, what `run` does with the registry: import, open + check, add, close. */
const REGISTRY_PROBE = `
const t0 = performance.now();
const { Registry } = await import(process.argv[1]);
const rec = JSON.parse(process.argv[3]);
const reg = new Registry(process.argv[2]);
reg.check();
await reg.add({ ...rec, run: rec.run.slice(0, 56) + Math.random().toString(16).slice(2, 10).padEnd(8, '0'), startedAt: new Date().toISOString() });
reg.close();
process.stdout.write(String(performance.now() - t0));
`;

function registryMs(artifactsDir: string, rec: RunRecord): number {
  const ms: number[] = [];
  const url = new URL('../src/engine/registry.js', import.meta.url).href;
  for (let i = 0; i < repeat; i++) {
    ms.push(Number(execFileSync(process.execPath, ['--input-type=module', '-e', REGISTRY_PROBE, url, artifactsDir, JSON.stringify(rec)], { encoding: 'utf8' })));
  }
  return median(ms);
}

function main(): void {
  const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`bench:registry  N=${N} runs, median of ${repeat}, work dir ${work}`);
  if (!arg('cache') || !existsSync(cacheDir)) {
    const t0 = performance.now();
    wall([bin, 'run', demo, ...overrides], join(work, 'artifacts-fill'), 1);
    console.log(`filled the cache with the demo (${overrides.join(' ') || 'as is'}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const empty = join(work, 'artifacts-empty');
  const full = join(work, 'artifacts-full');
  const emptyRun = wall([bin, 'run', demo, ...overrides], empty);
  const template = new Registry(empty).find('latest');
  if (!template.stages.every((s) => s.status === 'cached')) throw new Error('the demo run was not fully cached');
  const emptyReg = registryMs(empty, template);

  const reg = new Registry(full);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) void reg.add(generated(template, i));
  const fillMs = performance.now() - t0;
  reg.close();
  const db = new Database(reg.file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const blobs = db.prepare('SELECT count(*) AS n, sum(length(body)) AS bytes FROM blobs').get() as { n: number; bytes: number };
  db.close();
  const bytes = statSync(reg.file).size;

  const fullReg = registryMs(full, template);
  const fullRun = wall([bin, 'run', demo, ...overrides], full);
  const list50 = wall([bin, 'runs', '--limit', '50'], full);
  const sorted50 = wall([bin, 'runs', '--sort', 'accuracy', '--limit', '50'], full);
  const sweep = wall([bin, 'runs', '--experiment', `sweep-${Math.floor(N / 200)}`], full);
  const show = wall([bin, 'show', hex(Math.floor(N / 2), 'b').slice(0, 12)], full);
  const version = wall(['-e', ''], full);
  const list50Empty = wall([bin, 'runs', '--limit', '50'], empty);
  const inProcess = (fn: (r: Registry) => unknown) => {
    const ms: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const t = performance.now();
      const r = new Registry(full);
      fn(r);
      r.close();
      ms.push(performance.now() - t);
    }
    return median(ms);
  };
  const q50 = inProcess((r) => r.query({ limit: 50 }));
  const qSorted = inProcess((r) => r.query({ sortBy: { metric: 'accuracy' }, limit: 50 }));
  const qSweep = inProcess((r) => r.records({ experiment: `sweep-${Math.floor(N / 200)}` }));
  const qPrefix = inProcess((r) => r.find(hex(Math.floor(N / 2), 'b').slice(0, 8)));
  const qStage = inProcess((r) => r.lastStageRecord(template.pipeline, 'train'));

  console.log(`adding ${N} runs: ${(fillMs / 1000).toFixed(1)} s (${fmt(fillMs / N)} a run, in one process)`);
  console.log(`database: ${(bytes / 1e6).toFixed(1)} MB = ${(bytes / N / 1024).toFixed(2)} KiB a run; ${blobs.n} blobs, ${(blobs.bytes / 1e6).toFixed(1)} MB of them (resolved YAML and upstream stage records stored once)`);
  console.log(`registry time of a cached run (import + open + check + add): ${fmt(emptyReg)} with 0 runs, ${fmt(fullReg)} with ${N}`);
  console.log(`cached demo run, wall: ${fmt(emptyRun)} with 0 runs, ${fmt(fullRun)} with ${N} (node -e '' alone: ${fmt(version)})`);
  console.log(`in the registry (open + query, in process): runs --limit 50 ${fmt(q50)}, sorted by accuracy ${fmt(qSorted)}, one experiment's 100 complete records ${fmt(qSweep)}, find by 8-char prefix ${fmt(qPrefix)}, lastStageRecord ${fmt(qStage)}`);
  console.log(`runs --limit 50 with 0 runs (CLI start-up alone): ${fmt(list50Empty)}`);
  console.log(`runs --limit 50: ${fmt(list50)}   runs --sort accuracy --limit 50: ${fmt(sorted50)}   runs --experiment (100 runs): ${fmt(sweep)}   show PREFIX: ${fmt(show)}`);
  console.log(`RESULT N=${N} registry_ms=${fullReg.toFixed(1)} runs_limit50_query_ms=${q50.toFixed(1)} cached_run_ms=${fullRun.toFixed(0)} runs_limit50_ms=${list50.toFixed(0)} bytes_per_run=${Math.round(bytes / N)}`);
  if (!keep) rmSync(work, { recursive: true, force: true });
}

main();
