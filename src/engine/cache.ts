import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, lstatSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hashJson, sha256File } from '../util/hash.js';
import { EmopipeError } from '../util/errors.js';
import type { StageResult } from './stage.js';
import { pidAlive } from './lock.js';

/**
 * Content-addressed store of stage outputs.
 *
 *   <root>/entries/<fingerprint>/   the stage's files + .emopipe-entry.json (manifest)
 *   <root>/tmp/<fp>.<pid>.<rand>/    where a stage writes; renamed into entries/ when complete
 *   <root>/locks/<fp>.lock           who is computing <fp> right now (see lock.ts)
 *
 * An entry exists only once complete (atomic rename), and is verified on every read: sizes
 * always, content hashes too when the entry is small or `verify: 'full'`. The manifest holds
 * the entry's content hash, so a fully cached pipeline resolves without re-hashing big files.
 */
export const MANIFEST = '.emopipe-entry.json';
/** Entries up to this size are fully re-hashed on each read; bigger ones are size-checked. */
export const FULL_VERIFY_BYTES = 32 * 1024 * 1024;

export interface EntryFile {
  path: string;
  size: number;
  sha256: string;
}

export interface EntryManifest {
  format: 1;
  fingerprint: string;
  /** Hash of the sorted file list (path, size, sha256): what downstream fingerprints use. */
  contentHash: string;
  files: EntryFile[];
  stage: string;
  kind: string;
  createdAt: string;
  seconds: number;
  result: StageResult;
}

export type Lookup =
  | { state: 'hit'; manifest: EntryManifest; dir: string }
  | { state: 'miss' }
  | { state: 'corrupt'; reason: string; dir: string };

export interface Staging {
  fingerprint: string;
  dir: string;
}

/** Content hash of an output: the sorted list of its files. */
export function contentHashOf(files: readonly EntryFile[]): string {
  return hashJson([...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));
}

/** Hash every file under `dir` (recursively), paths relative to it with '/' separators. */
export async function hashDirectory(dir: string): Promise<EntryFile[]> {
  const out: EntryFile[] = [];
  const walk = async (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (d === dir && name === MANIFEST) continue;
      const full = join(d, name);
      const st = lstatSync(full);
      if (st.isDirectory()) await walk(full);
      else if (st.isFile()) out.push({ path: relative(dir, full).split(sep).join('/'), size: st.size, sha256: await sha256File(full) });
      else throw new EmopipeError('E_STAGE_FAILED', `stage output ${full} is not a regular file (symlinks are not allowed in outputs)`);
    }
  };
  await walk(dir);
  return out;
}

export class Cache {
  readonly entriesDir: string;
  readonly tmpDir: string;
  readonly locksDir: string;

  constructor(readonly root: string) {
    this.entriesDir = join(root, 'entries');
    this.tmpDir = join(root, 'tmp');
    this.locksDir = join(root, 'locks');
  }

  entryDir(fp: string): string {
    return join(this.entriesDir, fp);
  }

  lockPath(fp: string): string {
    return join(this.locksDir, `${fp}.lock`);
  }

  /** Find and verify an entry. A corrupt one is reported, never returned as a hit. */
  async lookup(fp: string, verify: 'auto' | 'full' | 'size' = 'auto'): Promise<Lookup> {
    const dir = this.entryDir(fp);
    let manifest: EntryManifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as EntryManifest;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return existsSync(dir) ? { state: 'corrupt', reason: 'manifest missing', dir } : { state: 'miss' };
      }
      return { state: 'corrupt', reason: `manifest unreadable (${(e as Error).message})`, dir };
    }
    if (manifest.fingerprint !== fp || !Array.isArray(manifest.files) || contentHashOf(manifest.files) !== manifest.contentHash) {
      return { state: 'corrupt', reason: 'manifest does not match its entry', dir };
    }
    let total = 0;
    for (const f of manifest.files) {
      let size: number;
      try {
        size = statSync(join(dir, f.path)).size;
      } catch {
        return { state: 'corrupt', reason: `file ${f.path} is missing`, dir };
      }
      if (size !== f.size) return { state: 'corrupt', reason: `file ${f.path} has ${size} bytes, manifest says ${f.size}`, dir };
      total += size;
    }
    if (verify === 'full' || (verify === 'auto' && total <= FULL_VERIFY_BYTES)) {
      for (const f of manifest.files) {
        const h = await sha256File(join(dir, f.path));
        if (h !== f.sha256) return { state: 'corrupt', reason: `file ${f.path} content hash mismatch`, dir };
      }
    }
    return { state: 'hit', manifest, dir };
  }

  /** A fresh, empty directory for a stage to write into. */
  begin(fp: string): Staging {
    mkdirSync(this.tmpDir, { recursive: true });
    const dir = join(this.tmpDir, `${fp}.${process.pid}.${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    return { fingerprint: fp, dir };
  }

  discard(staging: Staging): void {
    rmSync(staging.dir, { recursive: true, force: true });
  }

  /** Hash the staged files, write the manifest and move the directory into place atomically. */
  async publish(staging: Staging, meta: { stage: string; kind: string; seconds: number; result: StageResult }): Promise<EntryManifest> {
    const files = await hashDirectory(staging.dir);
    const manifest: EntryManifest = {
      format: 1,
      fingerprint: staging.fingerprint,
      contentHash: contentHashOf(files),
      files,
      stage: meta.stage,
      kind: meta.kind,
      createdAt: new Date().toISOString(),
      seconds: meta.seconds,
      result: meta.result,
    };
    writeFileSync(join(staging.dir, MANIFEST), JSON.stringify(manifest, null, 1));
    mkdirSync(this.entriesDir, { recursive: true });
    try {
      renameSync(staging.dir, this.entryDir(staging.fingerprint));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      // Someone else published the same fingerprint first: theirs stands if it verifies.
      const other = await this.lookup(staging.fingerprint);
      this.discard(staging);
      if (other.state === 'hit') return other.manifest;
      throw new EmopipeError('E_CACHE_CORRUPT', `cache entry ${staging.fingerprint} appeared while publishing and is invalid`);
    }
    return manifest;
  }

  /** Remove an entry (corrupt, or garbage-collected): move it aside atomically, then delete. */
  evict(fp: string): void {
    const dir = this.entryDir(fp);
    if (!existsSync(dir)) return;
    mkdirSync(this.tmpDir, { recursive: true });
    const aside = join(this.tmpDir, `${fp}.${process.pid}.${randomBytes(4).toString('hex')}.evicted`);
    try {
      renameSync(dir, aside);
    } catch {
      return;
    }
    rmSync(aside, { recursive: true, force: true });
  }

  /** Fingerprints of all published entries. */
  listEntries(): string[] {
    try {
      return readdirSync(this.entriesDir).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
      return [];
    }
  }

  /** Temp dirs whose owning process is gone (killed mid-stage): remove them. Returns what was removed. */
  cleanStaleTmp(dryRun = false): string[] {
    let names: string[];
    try {
      names = readdirSync(this.tmpDir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      const pid = Number(name.split('.')[1]);
      if (pidAlive(pid)) continue;
      removed.push(join(this.tmpDir, name));
      if (!dryRun) rmSync(join(this.tmpDir, name), { recursive: true, force: true });
    }
    return removed;
  }

  /** Bytes used by an entry (from its manifest; 0 if unreadable). */
  entrySize(fp: string): number {
    try {
      const m = JSON.parse(readFileSync(join(this.entryDir(fp), MANIFEST), 'utf8')) as EntryManifest;
      return m.files.reduce((a, f) => a + f.size, 0);
    } catch {
      return 0;
    }
  }
}
