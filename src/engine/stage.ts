import type { Rng } from '../util/rng.js';

/** JSON Schema (draft 2020-12 subset that ajv understands), with `default`s and `description`s. */
export type JsonSchema = Record<string, unknown>;

/** Reports progress of the current stage; the engine renders it as a bar (TTY) or plain lines. */
export interface ProgressReporter {
  /** Begin a determinate phase, e.g. start(480, 'files') or start(40 * 150, 'batches', 'epoch 1/40'). */
  start(total: number, unit: string, label?: string): void;
  /** Advance by n units; `info` is shown next to the bar (loss, accuracy, samples/s ...). */
  tick(n?: number, info?: Record<string, string | number>): void;
  /** Change the label without advancing (e.g. 'epoch 3/40'). */
  label(text: string): void;
  /** End the current phase. */
  done(): void;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** An upstream stage's output: a read-only directory of files. */
export interface StageInput {
  /** The upstream stage's name in the pipeline. */
  name: string;
  /** The upstream stage's kind. */
  kind: string;
  /** Directory holding its output files. Never write here. */
  dir: string;
  /** The upstream's matrix values when it is a matrix instance (e.g. {fold: 2}); what a fan-in stage groups by. */
  matrix?: Record<string, unknown>;
}

export interface StageContext<P> {
  stageName: string;
  /** Parameters, validated against `paramsSchema` with defaults filled in. */
  params: P;
  /** Upstream outputs in the order of the stage's `needs:`. */
  inputs: StageInput[];
  /** The single upstream of the given kind; throws a clear error if there is none. */
  input(kind: string): StageInput;
  /** Same, but undefined when absent. */
  maybeInput(kind: string): StageInput | undefined;
  /** Empty directory that becomes this stage's output. */
  outDir: string;
  /**
   * Seeded generator (pipeline seed + stage name). Only for kinds with `random: true`;
   * the pipeline seed is then part of the fingerprint.
   */
  rng: Rng;
  progress: ProgressReporter;
  log: Logger;
  /** Aborted on Ctrl-C; long loops should check it. */
  signal: AbortSignal;
  /** How many worker threads this stage may use for per-file work. */
  jobs: number;
  /** Directory for data a stage downloads or generates on request (EMOPIPE_DATA, default `./data`). */
  dataDir: string;
  /** Directory of the pipeline file; relative paths in params are relative to it. */
  pipelineDir: string;
  /** Resolve a path parameter against `pipelineDir` (absolute paths are returned unchanged). */
  resolvePath(p: string): string;
}

export interface StageResult {
  /** Numbers worth showing in `runs`/`show`/`diff` (e.g. accuracy). Kept small. */
  metrics?: Record<string, number | string | null>;
  /** One line for the run log. */
  summary?: string;
  /** A file in the output a person should open (e.g. `report.html`); `run` prints where it is. */
  report?: string;
}

/** A stage kind is data plus one function. */
export interface StageKind<P = any> {
  kind: string;
  /** One line, shown in `--help` and the README's reference. */
  description: string;
  /** Parameters: an object schema with `additionalProperties: false` and a `default` per key. */
  paramsSchema: JsonSchema;
  /** Kinds of upstream stages it reads (documentation + validation of `needs:`). */
  inputs: { kind: string; optional?: boolean; description?: string }[];
  /** Uses ctx.rng (makes the pipeline seed part of its fingerprint). */
  random?: boolean;
  /**
   * Aggregates: instead of fanning out with a matrix stage it needs, it runs once and receives
   * every instance of each needed stage as inputs (in instance order, with their `matrix` values).
   */
  fanIn?: boolean;
  /**
   * `import.meta.url` of the module defining the kind. The implementation version is the hash
   * of that module and every project module it imports (followed statically), so a code change
   * invalidates cache entries without anyone bumping a number.
   */
  module: string;
  /**
   * Extra parameters that do not change results and are excluded from the fingerprint
   * (e.g. `device`, thread counts proven not to change output). Keep this list short and justified.
   */
  nonSemanticParams?: string[];
  /**
   * For kinds that read files outside the cache (ingest): a cheap summary of that outside state
   * (e.g. every file's path, size and mtime) that becomes part of the fingerprint, so an edited
   * corpus is noticed while an unchanged one is a cache hit.
   */
  externalInputs?(params: P, env: { resolvePath(p: string): string; dataDir: string }): Promise<unknown>;
  run(ctx: StageContext<P>): Promise<StageResult | void>;
}
