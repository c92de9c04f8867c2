/**
 * A StageContext for calling a stage kind's `run` directly in tests, without the scheduler:
 * params validated against the kind's schema with defaults filled (by the engine's validator),
 * a fresh output directory, silent progress, a seeded Rng per stage name.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { resolveParams as engineResolveParams } from '../../src/engine/config.js';
import type { Logger, ProgressReporter, StageContext, StageInput, StageKind } from '../../src/engine/stage.js';
import { Rng } from '../../src/util/rng.js';

/** Validate `params` against the kind's schema with defaults filled, exactly as the engine does. */
export function resolveParams<P>(kind: StageKind<P>, params: Record<string, unknown> = {}): P {
  return engineResolveParams(kind as StageKind, params) as P;
}

export interface TestContextOptions {
  stageName?: string;
  seed?: string | number;
  inputs?: StageInput[];
  /** Parent folder for outDir and dataDir (default: a fresh temp dir). */
  baseDir?: string;
  /** Directory relative path params resolve against (default: baseDir). */
  pipelineDir?: string;
  dataDir?: string;
  jobs?: number;
}

export interface TestContext<P> extends StageContext<P> {
  /** Messages the stage logged, warnings prefixed with "warn: ". */
  logs: string[];
  /** Phases the stage started, e.g. 'files:reading audio'. */
  phases: string[];
  abort: AbortController;
}

/** Temp dirs this helper made itself; removed when the test process exits. */
const madeDirs: string[] = [];
process.on('exit', () => {
  for (const d of madeDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(d);
  return d;
}

export function makeStageContext<P>(kind: StageKind<P>, params: Record<string, unknown> = {}, o: TestContextOptions = {}): TestContext<P> {
  let base = o.baseDir;
  base ??= tempDir(`emopipe-${kind.kind}-`);
  const stageName = o.stageName ?? kind.kind;
  const outDir = join(base, 'out-' + stageName);
  mkdirSync(outDir, { recursive: true });
  const pipelineDir = o.pipelineDir ?? base;
  const inputs = o.inputs ?? [];
  const logs: string[] = [];
  const phases: string[] = [];
  const log: Logger = { info: (m) => void logs.push(m), warn: (m) => void logs.push('warn: ' + m) };
  const progress: ProgressReporter = {
    start: (_total, unit, label) => void phases.push(`${unit}:${label ?? ''}`),
    tick: () => {},
    label: () => {},
    done: () => {},
  };
  const abort = new AbortController();
  const input = (k: string) => {
    const found = inputs.filter((i) => i.kind === k);
    if (found.length !== 1) throw new Error(`${stageName} needs exactly one ${k} input, has ${found.length}`);
    return found[0]!;
  };
  return {
    stageName,
    params: resolveParams(kind, params),
    inputs,
    input,
    maybeInput: (k) => inputs.find((i) => i.kind === k),
    outDir,
    rng: new Rng(`${o.seed ?? 0}/${stageName}`), // as src/engine/run.ts seeds it
    progress,
    log,
    signal: abort.signal,
    jobs: o.jobs ?? 2,
    dataDir: o.dataDir ?? join(base, 'data'),
    pipelineDir,
    resolvePath: (p) => (isAbsolute(p) ? p : resolve(pipelineDir, p)),
    logs,
    phases,
    abort,
  };
}
