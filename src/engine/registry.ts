import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { EmopipeError } from '../util/errors.js';
import { isCorruption, openRegistryDb, registryInvalid, type Db } from './registry-db.js';
import { readLegacyRuns } from './registry-legacy.js';

export { RUN_STATUSES, type RunQuery, type RunRecord, type RunStatus, type RunSummary, type StageFacts, type StageRecord, type StageStatus } from './run-record.js';
import type { RunQuery, RunRecord, RunStatus, RunSummary, StageRecord, StageStatus } from './run-record.js';

interface RunRow {
  id: number;
  run: string;
  pipeline: string;
  experiment: string | null;
  status: RunStatus;
  started_at: string;
  seconds: number;
  seed: number;
  file: string;
  pipeline_dir: string;
  artifacts_dir: string | null;
  yaml_id: number;
  metrics: string;
  extra: string | null;
}

const RUN_KEYS = new Set(['run', 'pipeline', 'experiment', 'file', 'pipelineDir', 'startedAt', 'seconds', 'status', 'seed', 'resolvedYaml', 'stages', 'metrics', 'artifactsDir']);

/**
 * Every run, in `artifacts/runs.db` (SQLite through better-sqlite3, WAL mode). Adding a run is one
 * short transaction that appends a few rows, so its cost does not grow with the history; SQLite's
 * locking serialises concurrent writers (other processes wait, none is lost) and readers never see
 * a half-written run. An `artifacts/runs.json` from before is migrated on first use and kept as
 * `runs.json.bak`. A corrupt or foreign file is an E_REGISTRY_INVALID error naming it.
 */
export class Registry {
  readonly file: string;
  readonly legacyFile: string;
  private db: Db | undefined;
  private readonly log: (line: string) => void;

  constructor(
    readonly dir: string,
    opts: { log?: (line: string) => void } = {},
  ) {
    this.file = join(dir, 'runs.db');
    this.legacyFile = join(dir, 'runs.json');
    this.log = opts.log ?? ((line) => process.stderr.write(line + '\n'));
  }

  /** The database, opened (and a legacy runs.json migrated) on first use; undefined while there is none and `create` is false. */
  private open(create: boolean): Db | undefined {
    if (this.db) return this.db;
    const legacy = existsSync(this.legacyFile);
    if (!create && !legacy && !existsSync(this.file)) return undefined;
    mkdirSync(this.dir, { recursive: true });
    const db = openRegistryDb(this.file);
    try {
      if (legacy) this.migrate(db);
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
    return db;
  }

  /** Run `fn` on the database, turning SQLite's corruption errors into one that names the file. */
  private use<T>(create: boolean, empty: T, fn: (db: Db) => T): T {
    const db = this.open(create);
    if (!db) return empty;
    try {
      return fn(db);
    } catch (e) {
      if (isCorruption(e)) throw registryInvalid(this.file, `not a readable run registry (${(e as Error).message})`, e);
      throw e;
    }
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  /** Throws if the registry cannot be read or written (before a run spends time it could not record). */
  check(): void {
    this.use(true, undefined, () => undefined);
  }

  private migrate(db: Db): void {
    let count = -1;
    db.transaction(() => {
      // Another process may have migrated while we waited for the write lock.
      if (db.prepare(`SELECT 1 FROM meta WHERE key = 'migrated_from'`).get()) return;
      if (!existsSync(this.legacyFile)) return;
      const runs = readLegacyRuns(this.legacyFile);
      for (const r of runs) this.insert(db, r);
      db.prepare(`INSERT INTO meta (key, value) VALUES ('migrated_from', ?)`).run(this.legacyFile);
      count = runs.length;
    }).immediate();
    if (count < 0) return;
    let backup = `${this.legacyFile}.bak`;
    if (existsSync(backup)) backup = `${this.legacyFile}.${Date.now()}.bak`;
    renameSync(this.legacyFile, backup);
    this.log(`emopipe: migrated ${count} run${count === 1 ? '' : 's'} from ${this.legacyFile} to ${this.file}; the old file is kept as ${backup}`);
  }

  /** The id of the blob holding `body`, storing it if it is new. */
  private blob(db: Db, body: string): number {
    const hash = createHash('sha256').update(body).digest();
    const found = db.prepare(`SELECT id FROM blobs WHERE hash = ?`).pluck().get(hash) as number | undefined;
    if (found !== undefined) return found;
    return Number(db.prepare(`INSERT INTO blobs (hash, body) VALUES (?, ?)`).run(hash, body).lastInsertRowid);
  }

  private insert(db: Db, rec: RunRecord): void {
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rec)) if (!RUN_KEYS.has(k)) extra[k] = v;
    const runId = Number(
      db
        .prepare(
          `INSERT INTO runs (run, pipeline, experiment, status, started_at, seconds, seed, file, pipeline_dir, artifacts_dir, yaml_id, metrics, extra)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          rec.run,
          rec.pipeline,
          rec.experiment ?? null,
          rec.status,
          rec.startedAt,
          rec.seconds,
          rec.seed,
          rec.file,
          rec.pipelineDir,
          rec.artifactsDir ?? null,
          this.blob(db, rec.resolvedYaml),
          JSON.stringify(rec.metrics ?? {}),
          Object.keys(extra).length ? JSON.stringify(extra) : null,
        ).lastInsertRowid,
    );
    const stage = db.prepare(`INSERT INTO run_stages (run_id, pos, name, status, seconds, has_parts, body_id) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    rec.stages.forEach((s, pos) => {
      // status and seconds differ from run to run; the rest is shared by every run that reused the stage.
      const { name, status, seconds, ...rest } = s;
      stage.run(runId, pos, name, status, seconds, s.parts ? 1 : 0, this.blob(db, JSON.stringify(rest)));
    });
    const metric = db.prepare(`INSERT OR REPLACE INTO run_metrics (run_id, pos, stage, name, value) VALUES (?, ?, ?, ?, ?)`);
    Object.entries(rec.metrics ?? {}).forEach(([stageName, m], pos) => {
      for (const [name, v] of Object.entries(m ?? {})) if (typeof v === 'number' && Number.isFinite(v)) metric.run(runId, pos, stageName, name, v);
    });
  }

  async add(rec: RunRecord): Promise<void> {
    this.use(true, undefined, (db) => db.transaction(() => this.insert(db, rec)).immediate());
  }

  private whereOf(q: RunQuery): { sql: string; args: unknown[] } {
    const cond: string[] = [];
    const args: unknown[] = [];
    if (q.prefix !== undefined) {
      // A range on the run index: every string that starts with the prefix sorts in [prefix, prefix + U+10FFFF).
      cond.push(`r.run >= ? AND r.run < ?`);
      args.push(q.prefix, q.prefix + '\u{10FFFF}');
    }
    if (q.pipeline !== undefined) cond.push(`r.pipeline = ?`), args.push(q.pipeline);
    if (q.experiment !== undefined) cond.push(`r.experiment = ?`), args.push(q.experiment);
    if (q.status !== undefined) cond.push(`r.status = ?`), args.push(q.status);
    if (q.since !== undefined) cond.push(`r.started_at >= ?`), args.push(q.since);
    return { sql: cond.length ? `WHERE ${cond.join(' AND ')}` : '', args };
  }

  /** Rows matching `q`, in the order `runs` shows them (oldest first, or best first when sorted). */
  private rows(db: Db, q: RunQuery): RunRow[] {
    const where = this.whereOf(q);
    const args = [...where.args];
    let order = `r.id DESC`;
    let select = `SELECT r.* FROM runs r`;
    if (q.sortBy) {
      const dot = q.sortBy.metric.indexOf('.');
      const byStage = dot > 0;
      select = `SELECT r.*, (SELECT m.value FROM run_metrics m WHERE m.run_id = r.id AND m.name = ?${byStage ? ' AND m.stage = ?' : ''} ORDER BY m.pos DESC LIMIT 1) AS sort_value FROM runs r`;
      args.unshift(...(byStage ? [q.sortBy.metric.slice(dot + 1), q.sortBy.metric.slice(0, dot)] : [q.sortBy.metric]));
      order = `sort_value ${q.sortBy.order === 'asc' ? 'ASC' : 'DESC'} NULLS LAST, r.id DESC`;
    }
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const rows = db.prepare(`${select} ${where.sql} ORDER BY ${order}${limit}`).all(...args) as RunRow[];
    return q.sortBy ? rows : rows.reverse();
  }

  private summary(row: RunRow): RunSummary {
    return {
      run: row.run,
      pipeline: row.pipeline,
      ...(row.experiment !== null ? { experiment: row.experiment } : {}),
      startedAt: row.started_at,
      seconds: row.seconds,
      status: row.status,
      metrics: JSON.parse(row.metrics) as RunRecord['metrics'],
    };
  }

  private record(db: Db, row: RunRow, bodies: Map<number, string>): RunRecord {
    const body = (id: number): string => {
      let b = bodies.get(id);
      if (b === undefined) {
        b = db.prepare(`SELECT body FROM blobs WHERE id = ?`).pluck().get(id) as string;
        bodies.set(id, b);
      }
      return b;
    };
    const stages = (db.prepare(`SELECT name, status, seconds, body_id FROM run_stages WHERE run_id = ? ORDER BY pos`).all(row.id) as { name: string; status: StageStatus; seconds: number; body_id: number }[]).map(
      (s) => {
        const rest = JSON.parse(body(s.body_id)) as Omit<StageRecord, 'name' | 'status' | 'seconds'>;
        const { kind, fingerprint, contentHash, outputDir, params, parts, ...more } = rest;
        return { name: s.name, kind, fingerprint, contentHash, status: s.status, seconds: s.seconds, outputDir, params, parts, ...more };
      },
    );
    return {
      run: row.run,
      pipeline: row.pipeline,
      ...(row.experiment !== null ? { experiment: row.experiment } : {}),
      file: row.file,
      pipelineDir: row.pipeline_dir,
      startedAt: row.started_at,
      seconds: row.seconds,
      status: row.status,
      seed: row.seed,
      resolvedYaml: body(row.yaml_id),
      stages,
      metrics: JSON.parse(row.metrics) as RunRecord['metrics'],
      artifactsDir: row.artifacts_dir,
      ...(row.extra ? (JSON.parse(row.extra) as object) : {}),
    };
  }

  /** Runs matching `q` without their YAML and stages (cheap: for listings). */
  query(q: RunQuery = {}): RunSummary[] {
    return this.use(false, [], (db) => this.rows(db, q).map((r) => this.summary(r)));
  }

  /** Complete records of the runs matching `q`. */
  records(q: RunQuery = {}): RunRecord[] {
    return this.use(false, [], (db) => {
      const bodies = new Map<number, string>();
      return this.rows(db, q).map((r) => this.record(db, r, bodies));
    });
  }

  /** All runs, oldest first, complete. Prefer query()/records() with a filter on large registries. */
  list(): RunRecord[] {
    return this.records();
  }

  count(): number {
    return this.use(false, 0, (db) => db.prepare(`SELECT count(*) FROM runs`).pluck().get() as number);
  }

  /** A run by hash prefix (most recent record of it), or 'latest'. */
  find(ref: string): RunRecord {
    return this.use(false, undefined, (db) => {
      const latest = () => db.prepare(`SELECT * FROM runs ORDER BY id DESC LIMIT 1`).get() as RunRow | undefined;
      const full = (row: RunRow | undefined) => (row ? this.record(db, row, new Map()) : undefined);
      if (ref === 'latest') return full(latest());
      const prefix = ref.toLowerCase();
      const { sql, args } = this.whereOf({ prefix });
      const hashes = db.prepare(`SELECT DISTINCT r.run FROM runs r ${sql} LIMIT 2`).pluck().all(...args) as string[];
      if (hashes.length === 0) {
        if (!latest()) return undefined;
        throw new EmopipeError('E_NOT_FOUND', `no run matches '${ref}' (see \`emopipe runs\`)`);
      }
      if (hashes.length > 1) {
        const n = db.prepare(`SELECT count(DISTINCT r.run) FROM runs r ${sql}`).pluck().get(...args) as number;
        throw new EmopipeError('E_USAGE', `'${ref}' matches ${n} runs; give more characters`);
      }
      return full(db.prepare(`SELECT * FROM runs WHERE run = ? ORDER BY id DESC LIMIT 1`).get(hashes[0]) as RunRow);
    }) ?? this.noRuns();
  }

  private noRuns(): never {
    throw new EmopipeError('E_NOT_FOUND', `no runs recorded in ${this.file}`);
  }

  /** find(), or undefined where there is no such run (a broken registry still throws). */
  tryFind(ref: string): RunRecord | undefined {
    try {
      return this.find(ref);
    } catch (e) {
      if (e instanceof EmopipeError && (e.code === 'E_NOT_FOUND' || e.code === 'E_USAGE')) return undefined;
      throw e;
    }
  }

  /** The most recent run of a pipeline (by name) that recorded `stage` with its fingerprint parts. */
  lastStageRecord(pipeline: string, stage: string): StageRecord | undefined {
    return this.use(false, undefined, (db) => {
      const row = db
        .prepare(
          `SELECT s.name, s.status, s.seconds, b.body FROM runs r
           JOIN run_stages s ON s.run_id = r.id JOIN blobs b ON b.id = s.body_id
           WHERE r.pipeline = ? AND s.name = ? AND s.has_parts = 1 ORDER BY r.id DESC LIMIT 1`,
        )
        .get(pipeline, stage) as { name: string; status: StageStatus; seconds: number; body: string } | undefined;
      if (!row) return undefined;
      return { name: row.name, status: row.status, seconds: row.seconds, ...(JSON.parse(row.body) as Omit<StageRecord, 'name' | 'status' | 'seconds'>) };
    });
  }

  /** Distinct run hashes, most recently recorded first (what `gc --keep-last` counts). */
  runHashesNewestFirst(): string[] {
    return this.use(false, [], (db) => db.prepare(`SELECT run FROM runs GROUP BY run ORDER BY max(id) DESC`).pluck().all() as string[]);
  }

  /** Every stage fingerprint recorded by any of `runs` (by run hash). */
  fingerprintsOf(runs: ReadonlySet<string>): Set<string> {
    return this.use(false, new Set<string>(), (db) => {
      const out = new Set<string>();
      const rows = db
        .prepare(`SELECT DISTINCT r.run, json_extract(b.body, '$.fingerprint') AS fp FROM runs r JOIN run_stages s ON s.run_id = r.id JOIN blobs b ON b.id = s.body_id`)
        .all() as { run: string; fp: string | null }[];
      for (const r of rows) if (r.fp && runs.has(r.run)) out.add(r.fp);
      return out;
    });
  }
}
