import Database from 'better-sqlite3';
import { EmopipeError } from '../util/errors.js';

/**
 * The run registry's SQLite file: opening, recognising (ours, foreign, corrupt, newer) and the
 * schema. Only registry.ts uses this module.
 *
 * Schema, version 1 (why: a run is one small row plus a few index rows, so adding a run never
 * rewrites history; large texts are content-addressed in `blobs` and stored once):
 *  - blobs        id, sha256 (raw), body: resolved YAML and stage records, deduplicated by hash
 *  - runs         one row per recorded run (id = recording order), indexed by run hash,
 *                 pipeline, experiment, status and start time; metrics as JSON
 *  - run_stages   per run and stage: status and seconds (differ per run) + the blob holding the
 *                 rest of the stage record (shared by every run that reused the stage)
 *  - run_metrics  numeric metrics, one row each, for sorting runs by a metric
 *  - meta         key/value (e.g. that artifacts/runs.json was migrated)
 */
export type Db = Database.Database;

/** 'emop' — PRAGMA application_id marks the file as ours; anything else is foreign. */
export const APPLICATION_ID = 0x656d6f70;
export const SCHEMA_VERSION = 1;
/** Writers wait this long for another writer's transaction (each is a few ms). */
const BUSY_TIMEOUT_MS = 60_000;

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE blobs (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  run TEXT NOT NULL,
  pipeline TEXT NOT NULL,
  experiment TEXT,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  seconds REAL NOT NULL,
  seed NUMERIC NOT NULL,
  file TEXT NOT NULL,
  pipeline_dir TEXT NOT NULL,
  artifacts_dir TEXT,
  yaml_id INTEGER NOT NULL REFERENCES blobs(id),
  metrics TEXT NOT NULL,
  extra TEXT
);
CREATE INDEX runs_by_run ON runs(run);
CREATE INDEX runs_by_pipeline ON runs(pipeline, id);
CREATE INDEX runs_by_experiment ON runs(experiment, id);
CREATE INDEX runs_by_status ON runs(status, id);
CREATE INDEX runs_by_start ON runs(started_at);
CREATE TABLE run_stages (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  pos INTEGER NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  seconds REAL NOT NULL,
  has_parts INTEGER NOT NULL,
  body_id INTEGER NOT NULL REFERENCES blobs(id),
  PRIMARY KEY (run_id, pos)
) WITHOUT ROWID;
CREATE TABLE run_metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  pos INTEGER NOT NULL,
  stage TEXT NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (run_id, pos, name)
) WITHOUT ROWID;
`;

export function registryInvalid(file: string, what: string, cause?: unknown): EmopipeError {
  return new EmopipeError(
    'E_REGISTRY_INVALID',
    `${what}. Move it away to start a new registry (mv ${file} ${file}.broken) or restore it from a backup.`,
    { file, cause },
  );
}

/** SQLite's "this is not a (healthy) database" errors, as opposed to e.g. a full disk. */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'));
}

/** Open (creating if needed) the registry database at `file`, checking that it is ours. */
export function openRegistryDb(file: string): Db {
  let db: Db | undefined;
  try {
    db = new Database(file);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    let appId = db.pragma('application_id', { simple: true }) as number;
    if (appId === 0) {
      // New (or empty) file: create the schema once, even with several processes racing here.
      db.transaction(() => {
        appId = db!.pragma('application_id', { simple: true }) as number;
        if (appId !== 0) return;
        const tables = (db!.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number }).n;
        if (tables > 0) return;
        db!.exec(SCHEMA);
        db!.pragma(`user_version = ${SCHEMA_VERSION}`);
        db!.pragma(`application_id = ${APPLICATION_ID}`);
        appId = APPLICATION_ID;
      }).immediate();
    }
    if (appId !== APPLICATION_ID) throw registryInvalid(file, 'not an emopipe run registry but a SQLite database of another application');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new EmopipeError('E_REGISTRY_INVALID', `the run registry was written by a newer emopipe (registry schema ${version}; this one reads ${SCHEMA_VERSION}): upgrade emopipe`, { file });
    }
    // WAL: readers never block the writer and a write appends to the log, not the whole file.
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return db;
  } catch (e) {
    db?.close();
    if (e instanceof EmopipeError) throw e;
    if (isCorruption(e)) throw registryInvalid(file, `not a readable run registry (${(e as Error).message})`, e);
    throw new EmopipeError('E_REGISTRY_INVALID', `cannot open the run registry: ${(e as Error).message}`, { file, cause: e });
  }
}
