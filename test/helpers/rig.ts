/**
 * A throwaway project directory for engine and CLI tests (in the spirit of wireit's test rig):
 * pipeline files, cache, artifacts and a counter file inside one temp dir; the CLI runs as a
 * child process with the test stage kinds registered through EMOPIPE_EXTRA_KINDS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kindRegistry, type KindRegistry } from '../../src/engine/kinds.js';
import { runPipelineFile } from '../../src/engine/index.js';
import type { EngineOptions, RunResult } from '../../src/engine/run.js';
import { stageKinds } from '../fixtures/kinds.js';
import { packageRoot } from '../../src/util/paths.js';

export const KINDS_MODULE = fileURLToPath(new URL('../fixtures/kinds.js', import.meta.url));
export const BIN = join(packageRoot(), 'bin', 'emopipe.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export class Rig {
  readonly dir: string;
  readonly cacheDir: string;
  readonly artifactsDir: string;
  readonly counterFile: string;
  readonly kinds: KindRegistry = kindRegistry(stageKinds);

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'emopipe-test-'));
    this.cacheDir = join(this.dir, 'cache');
    this.artifactsDir = join(this.dir, 'artifacts');
    this.counterFile = join(this.dir, 'counter.txt');
  }

  write(rel: string, content: string): string {
    const p = join(this.dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    return p;
  }

  read(rel: string): string {
    return readFileSync(join(this.dir, rel), 'utf8');
  }

  /** Computations per stage name, from the counter file the test kinds append to. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    if (!existsSync(this.counterFile)) return out;
    for (const line of readFileSync(this.counterFile, 'utf8').split('\n').filter(Boolean)) {
      const name = line.split(' ')[0]!;
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }

  resetCounts(): void {
    rmSync(this.counterFile, { force: true });
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      EMOPIPE_CACHE: this.cacheDir,
      EMOPIPE_ARTIFACTS: this.artifactsDir,
      EMOPIPE_DATA: join(this.dir, 'data'),
      EMOPIPE_EXTRA_KINDS: KINDS_MODULE,
      EMOPIPE_TEST_COUNTER: this.counterFile,
      EMOPIPE_DEBUG: '',
      ...extra,
    };
  }

  /** Run the engine in-process on a pipeline file of this rig. */
  async run(file: string, opts: Partial<EngineOptions> & { overrides?: string[]; targets?: string[] } = {}): Promise<RunResult> {
    process.env.EMOPIPE_TEST_COUNTER = this.counterFile;
    return runPipelineFile(join(this.dir, file), {
      kinds: this.kinds,
      cacheDir: this.cacheDir,
      artifactsDir: this.artifactsDir,
      dataDir: join(this.dir, 'data'),
      jobs: 2,
      ...opts,
    });
  }

  /** Start the CLI as a child process (cwd = the rig dir). */
  spawn(args: string[], env: Record<string, string> = {}): ChildProcess {
    return spawn(process.execPath, [BIN, ...args], { cwd: this.dir, env: this.env(env), stdio: ['ignore', 'pipe', 'pipe'] });
  }

  cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    const t0 = performance.now();
    const child = this.spawn(args, env);
    return finished(child, t0);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function finished(child: ChildProcess, t0 = performance.now()): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** The `--json` document: the last JSON value on stdout. */
export function lastJson<T = any>(stdout: string): T {
  const start = stdout.lastIndexOf('\n{');
  return JSON.parse(start >= 0 ? stdout.slice(start + 1) : stdout) as T;
}

/** A three-stage pipeline: a → low → both (join of a and b). */
export const DEMO = `name: demo
seed: 1
stages:
  a:
    uses: emit
    with:
      text: Hello
      repeat: 2
  b:
    uses: noise
    with: { n: 5 }
  low:
    uses: lower
    needs: [a]
  both:
    uses: join
    needs: [low, b]
    with:
      sep: "+"
`;

/** A test body that gets a fresh rig, removed afterwards whatever happens. */
export function withRig(fn: (rig: Rig) => Promise<void>): () => Promise<void> {
  return async () => {
    const rig = new Rig();
    try {
      await fn(rig);
    } finally {
      rig.cleanup();
    }
  };
}
