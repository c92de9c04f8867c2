/**
 * bench:serve — how `emopipe serve` holds up with 1,000 recorded runs: a registry of generated
 * runs (each the size and shape of a real demo run record: 7 stages with params, fingerprint
 * parts and metrics, the resolved YAML), then the median latency of GET /api/runs and
 * GET /api/runs/:id over loopback, and, where Chromium is installed, the runs page load until
 * all rows are in the table.
 * Usage: npm run bench:serve [-- --runs N --repeat R]
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Registry, type RunRecord, type StageRecord } from '../src/engine/registry.js';
import { buildServer } from '../src/server/app.js';
import { packageRoot } from '../src/util/paths.js';
import { chromiumPath, launchChromium } from '../test/helpers/browser.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const count = arg('runs', 1000);
const repeat = arg('repeat', 15);
const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const yaml = readFileSync(join(packageRoot(), 'pipelines', 'demo.yaml'), 'utf8');
const stageNames = ['ingest', 'split', 'resample', 'augment', 'mfcc', 'train', 'evaluate'];

function record(i: number): RunRecord {
  const lr = [0.001, 0.0005, 0.002][i % 3]!;
  const stages: StageRecord[] = stageNames.map((name, k) => {
    const params = { epochs: 30, batch_size: 32, lr: { schedule: 'cosine_decay_restarts', initial: lr, t_mul: 2, m_mul: 1, alpha: 0 }, n_mfcc: 40, frames: 64, note: 'x'.repeat(200) };
    return {
      name, kind: name, fingerprint: hex(`${i}/${name}`), contentHash: hex(`c${i}/${name}`), status: k < 5 && i % 4 ? 'cached' : 'ran',
      seconds: 0.5 + k, outputDir: `/nonexistent/cache/entries/${hex(`${i}/${name}`)}`, params,
      parts: { kind: name, version: hex(name), params, seed: 42, inputs: stageNames.slice(0, k).map((n) => ({ name: n, kind: n, contentHash: hex(`c${i}/${n}`) })) },
      metrics: { value: i * 0.001, rows: 240 }, summary: `${name} summary of run ${i}`,
    };
  });
  const acc = 0.5 + 0.4 * ((i * 7919) % 1000) / 1000;
  return {
    run: hex(`run ${i}`), pipeline: ['demo', 'ravdess', 'ravdess-speaker-independent'][i % 3]!, file: '/project/pipelines/demo.yaml', pipelineDir: '/project/pipelines',
    startedAt: new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString(), seconds: 50 + (i % 40), status: i % 50 === 7 ? 'failed' : 'ok', seed: 42,
    resolvedYaml: yaml, stages,
    metrics: { train: { best_epoch: 20, val_accuracy: acc }, evaluate: { accuracy: acc, uar: acc - 0.01, macroF1: acc - 0.02, test_accuracy: acc - 0.05, test_uar: acc - 0.06 } },
    artifactsDir: null,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), 'emopipe-bench-serve-'));
try {
  const artifactsDir = join(dir, 'artifacts');
  const registry = new Registry(artifactsDir);
  for (let i = 0; i < count; i++) await registry.add(record(i));
  registry.close();
  const registryBytes = statSync(join(artifactsDir, 'runs.db')).size;
  const app = await buildServer({ artifactsDir, cacheDir: join(dir, 'cache') });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    let listBytes = 0;
    const list: number[] = [];
    const one: number[] = [];
    const mid = record(Math.floor(count / 2)).run.slice(0, 12);
    // The first request reads and parses the registry; later ones reuse it until the file changes.
    const cold = await time(async () => (await fetch(`${base}/api/runs`)).arrayBuffer());
    for (let r = 0; r < repeat; r++) {
      list.push(await time(async () => { listBytes = (await (await fetch(`${base}/api/runs`)).arrayBuffer()).byteLength; }));
      one.push(await time(async () => (await fetch(`${base}/api/runs/${mid}`)).arrayBuffer()));
    }
    let page = 'page_load_ms=skipped(no chromium)';
    if (chromiumPath()) {
      const browser = await launchChromium();
      try {
        const loads: number[] = [];
        for (let r = 0; r < Math.min(repeat, 7); r++) {
          const p = await browser.newPage();
          loads.push(await time(async () => {
            await p.goto(`${base}/#/runs`);
            await p.waitForFunction((n) => document.querySelectorAll('#runs tbody tr').length === n, count);
          }));
          await p.close();
        }
        page = `page_load_ms=${median(loads.slice(1)).toFixed(0)}`;
      } finally {
        await browser.close();
      }
    }
    console.log(`registry_mb=${(registryBytes / 1048576).toFixed(1)} api_runs_kb=${(listBytes / 1024).toFixed(0)}`);
    console.log(`runs=${count} api_runs_cold_ms=${cold.toFixed(0)} api_runs_ms=${median(list).toFixed(1)} api_run_ms=${median(one).toFixed(1)} ${page}`);
  } finally {
    await app.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
