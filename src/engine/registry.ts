import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LowSync } from 'lowdb';
import { JSONFileSync } from 'lowdb/node';
import { EmopipeError } from '../util/errors.js';
import type { FingerprintParts } from './fingerprint.js';
import { withLock } from './lock.js';

export type StageStatus = 'cached' | 'ran' | 'failed' | 'skipped' | 'interrupted';
export type RunStatus = 'ok' | 'failed' | 'interrupted';

/** What a run knows of each stage, both in memory (StageOutcome) and on record (StageRecord). */
export interface StageFacts {
  name: string;
  kind: string;
  fingerprint: string | null;
  contentHash: string | null;
  status: StageStatus;
  seconds: number;
  outputDir: string | null;
  /** Resolved params (with defaults), as run. */
  params: Record<string, unknown>;
  parts: FingerprintParts | null;
  /** A matrix instance's values (e.g. {fold: 2}); absent for stages that are not fanned out. */
  matrix?: Record<string, unknown>;
}

export interface StageRecord extends StageFacts {
  metrics?: Record<string, number | string | null>;
  summary?: string;
  error?: string;
}

export interface RunRecord {
  run: string;
  pipeline: string;
  file: string;
  pipelineDir: string;
  startedAt: string;
  seconds: number;
  status: RunStatus;
  seed: number;
  resolvedYaml: string;
  stages: StageRecord[];
  metrics: Record<string, Record<string, number | string | null>>;
  /** Human-friendly view: artifacts/<run12>/<stage>/ */
  artifactsDir: string | null;
  /** The experiment (a `--sweep` grid) this run belongs to. */
  experiment?: string;
}

interface Data {
  runs: RunRecord[];
}

/**
 * Every run, in `artifacts/runs.json` (lowdb). Writers take a lock, re-read, append and write
 * via temp file + rename, so concurrent runs never lose each other's records and readers
 * never see a half-written file.
 */
export class Registry {
  readonly file: string;
  private readonly lockFile: string;

  constructor(readonly dir: string) {
    this.file = join(dir, 'runs.json');
    this.lockFile = join(dir, 'runs.json.lock');
  }

  private open(): LowSync<Data> {
    const db = new LowSync<Data>(new JSONFileSync<Data>(this.file), { runs: [] });
    try {
      db.read();
    } catch (e) {
      throw new EmopipeError('E_NOT_FOUND', `run registry ${this.file} is unreadable: ${(e as Error).message}`);
    }
    db.data ??= { runs: [] };
    db.data.runs ??= [];
    return db;
  }

  /** Apply `fn` to the registry under the lock (read, modify, atomic write). */
  async update(fn: (data: Data) => void): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await withLock(this.lockFile, () => {
      const db = this.open();
      fn(db.data);
      db.write();
    });
  }

  async add(rec: RunRecord): Promise<void> {
    await this.update((d) => {
      d.runs.push(rec);
    });
  }

  /** All runs, oldest first. */
  list(): RunRecord[] {
    return this.open().data.runs;
  }

  /** A run by hash prefix (most recent record of it), or 'latest'. */
  find(ref: string): RunRecord {
    const runs = this.list();
    if (!runs.length) throw new EmopipeError('E_NOT_FOUND', `no runs recorded in ${this.file}`);
    if (ref === 'latest') return runs[runs.length - 1]!;
    const matches = new Set(runs.filter((r) => r.run.startsWith(ref.toLowerCase())).map((r) => r.run));
    if (matches.size === 0) throw new EmopipeError('E_NOT_FOUND', `no run matches '${ref}' (see \`emopipe runs\`)`);
    if (matches.size > 1) throw new EmopipeError('E_USAGE', `'${ref}' matches ${matches.size} runs; give more characters`);
    const hash = [...matches][0]!;
    return runs.filter((r) => r.run === hash).pop()!;
  }

  tryFind(ref: string): RunRecord | undefined {
    try {
      return this.find(ref);
    } catch {
      return undefined;
    }
  }

  /** The most recent run of a pipeline (by name) that recorded `stage` with its fingerprint parts. */
  lastStageRecord(pipeline: string, stage: string): StageRecord | undefined {
    const runs = this.list();
    for (let i = runs.length - 1; i >= 0; i--) {
      const r = runs[i]!;
      if (r.pipeline !== pipeline) continue;
      const s = r.stages.find((x) => x.name === stage && x.parts);
      if (s) return s;
    }
    return undefined;
  }
}
