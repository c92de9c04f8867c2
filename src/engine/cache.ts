import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, lstatSync, type Stats } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
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
 *   <root>/verified/<fp>.json        stat signature of each file when its content was last checked
 *
 * An entry exists only once complete (atomic rename), and no file of it reaches anyone unchecked:
 * - every lookup checks every file's size, and its content by CRC-32 from the manifest (~2-4×
 *   faster than SHA-256 here) unless the file's stat signature (size, mtime, ctime, inode) is the
 *   one recorded when its content was last checked. Any write to a file changes its ctime, which
 *   no user-level tool can set back, so an edited, truncated or replaced file is always re-read;
 *   an unchanged one costs a stat, which keeps a cached rerun quick however big the entries are.
 * - before a stage runs, every file of its inputs is CRC-checked regardless of signatures
 *   (`verifyInputs`), and so are entries that `predict` and `inspect` read: what a consumer
 *   reads has been checked, always — even against damage that leaves the stat untouched.
 * `verify: 'full'` (--verify-cache) re-hashes every file with SHA-256. The CRC catches damage
 * (bit rot, torn or edited files); it is no defence against someone who can also rewrite the
 * manifest, and need not be: such a writer owns the cache anyway. Entries written before the CRC
 * existed are checked by SHA-256. Reading needs no write (signatures are an optional memo), so a
 * read-only cache serves a fully cached run.
 */
export const MANIFEST = '.emopipe-entry.json';

export interface EntryFile {
  path: string;
  size: number;
  sha256: string;
  /** CRC-32 of the content (zlib's), for the quick check on every read. Not part of the content hash. */
  crc32?: number;
}

/** A fingerprint as it names a directory: exactly 64 lowercase hex digits (never `..` or a path). */
export function isFingerprint(fp: unknown): fp is string {
  return typeof fp === 'string' && /^[0-9a-f]{64}$/.test(fp);
}

/** What changes whenever a file's content is written: size, mtime, ctime (not settable by users), inode. */
function signature(st: Stats): number[] {
  return [st.size, st.mtimeMs, st.ctimeMs, st.ino];
}

function sameSignature(a: number[] | undefined, b: number[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
}

function readOnlyCode(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EROFS' || code === 'EACCES' || code === 'EPERM';
}

/** Read a file in 4 MiB blocks into one reused buffer (no per-chunk allocation: ~2× a read stream's speed here). */
async function eachBlock(path: string, fn: (block: Buffer) => void): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(4 << 20, (await fh.stat()).size)));
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      fn(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

/** SHA-256 and CRC-32 of a file in one pass. */
export async function digestFile(path: string): Promise<{ sha256: string; crc32: number }> {
  const h = createHash('sha256');
  let c = 0;
  await eachBlock(path, (b) => {
    h.update(b);
    c = crc32(b, c);
  });
  return { sha256: h.digest('hex'), crc32: c };
}

export async function crc32File(path: string): Promise<number> {
  let c = 0;
  await eachBlock(path, (b) => (c = crc32(b, c)));
  return c;
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

/** Content hash of an output: the sorted list of its files (path, size, sha256; the CRC is a check, not identity). */
export function contentHashOf(files: readonly EntryFile[]): string {
  const ids = files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  return hashJson(ids.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));
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
      else if (st.isFile()) out.push({ path: relative(dir, full).split(sep).join('/'), size: st.size, ...(await digestFile(full)) });
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
    this.verifiedDir = join(root, 'verified');
  }

  readonly verifiedDir: string;
  /** Entries whose content this process has checked for a consumer (see verifyInputs). */
  private readonly checkedForUse = new Set<string>();

  private signaturePath(fp: string): string {
    return join(this.verifiedDir, `${fp}.json`);
  }

  private readSignatures(fp: string): Record<string, number[]> {
    try {
      const v = JSON.parse(readFileSync(this.signaturePath(fp), 'utf8')) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, number[]>) : {};
    } catch {
      return {};
    }
  }

  /** Remember the stat signatures of an entry whose content was just checked (best effort: a read-only cache skips it). */
  private writeSignatures(fp: string, dir: string, files: readonly EntryFile[]): void {
    try {
      const sigs: Record<string, number[]> = {};
      for (const f of files) sigs[f.path] = signature(statSync(join(dir, f.path)));
      mkdirSync(this.verifiedDir, { recursive: true });
      const tmp = `${this.signaturePath(fp)}.${process.pid}.${randomBytes(3).toString('hex')}`;
      writeFileSync(tmp, JSON.stringify(sigs));
      renameSync(tmp, this.signaturePath(fp));
    } catch {
      /* only a memo */
    }
  }

  /** The directory of an entry; refuses anything that is not a fingerprint (ids read from disk name no other path). */
  entryDir(fp: string): string {
    if (!isFingerprint(fp)) throw new EmopipeError('E_CACHE_CORRUPT', `${JSON.stringify(fp)} is not a cache fingerprint (64 hex digits)`);
    return join(this.entriesDir, fp);
  }

  lockPath(fp: string): string {
    this.entryDir(fp); // validates
    return join(this.locksDir, `${fp}.lock`);
  }

  /**
   * Find and verify an entry. A corrupt one is reported, never returned as a hit.
   * `auto`: size of every file, and its CRC-32 (SHA-256 where the manifest has no CRC) unless its
   * stat signature matches the one recorded at its last check; `content`: the same, ignoring
   * signatures; `full`: SHA-256 of every file; `size`: sizes only (polling while another process
   * computes it).
   */
  async lookup(fp: string, verify: 'auto' | 'content' | 'full' | 'size' = 'auto'): Promise<Lookup> {
    if (!isFingerprint(fp)) return { state: 'miss' };
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
    const known = verify === 'auto' ? this.readSignatures(fp) : {};
    const toCheck: EntryFile[] = [];
    for (const f of manifest.files) {
      let st: Stats;
      try {
        st = statSync(join(dir, f.path));
      } catch {
        return { state: 'corrupt', reason: `file ${f.path} is missing`, dir };
      }
      if (st.size !== f.size) return { state: 'corrupt', reason: `file ${f.path} has ${st.size} bytes, manifest says ${f.size}`, dir };
      if (!sameSignature(known[f.path], signature(st))) toCheck.push(f);
    }
    if (verify === 'size') return { state: 'hit', manifest, dir };
    for (const f of toCheck) {
      const path = join(dir, f.path);
      if (verify !== 'full' && typeof f.crc32 === 'number') {
        if ((await crc32File(path)) !== f.crc32) return { state: 'corrupt', reason: `file ${f.path} fails its CRC-32 check`, dir };
      } else if ((await sha256File(path)) !== f.sha256) return { state: 'corrupt', reason: `file ${f.path} content hash mismatch`, dir };
    }
    if (toCheck.length) this.writeSignatures(fp, dir, manifest.files);
    return { state: 'hit', manifest, dir };
  }

  /**
   * Before a stage reads its inputs: CRC-check every file of every input entry, ignoring stat
   * signatures (once per entry and process). A corrupt input is removed and the stage fails
   * with E_CACHE_CORRUPT, so damage never spreads into a new, self-consistent entry; the next
   * run recomputes it. Inputs outside this cache (e.g. `reproduce --verify` scratch) are skipped.
   */
  async verifyInputs(inputs: readonly { name: string; dir: string }[]): Promise<void> {
    for (const input of inputs) {
      const fp = basename(input.dir);
      if (dirname(input.dir) !== this.entriesDir || !isFingerprint(fp) || this.checkedForUse.has(fp)) continue;
      const look = await this.lookup(fp, 'content');
      if (look.state === 'hit') {
        this.checkedForUse.add(fp);
        continue;
      }
      const reason = look.state === 'corrupt' ? look.reason : 'it disappeared';
      try {
        this.evict(fp);
      } catch {
        /* read-only: it stays, and stays refused */
      }
      throw new EmopipeError('E_CACHE_CORRUPT', `input ${input.name} (cache entry ${fp.slice(0, 12)}) is corrupt: ${reason}; it was removed and is recomputed on the next run`, { file: input.dir });
    }
  }

  /**
   * A verified entry for a reader outside the run engine (predict, inspect): its directory and
   * manifest, or an error saying what is wrong and how to get it back. Writes nothing.
   */
  async require(fp: string, what: string, howToRecover: string): Promise<{ dir: string; manifest: EntryManifest }> {
    const look = await this.lookup(fp, 'content');
    if (look.state === 'hit') return { dir: look.dir, manifest: look.manifest };
    if (look.state === 'miss') throw new EmopipeError('E_NOT_FOUND', `${what} (cache entry ${String(fp).slice(0, 12)}) is not in the cache (removed by gc?): ${howToRecover}`);
    throw new EmopipeError('E_CACHE_CORRUPT', `${what} (cache entry ${fp.slice(0, 12)}) is corrupt: ${look.reason}; it is not used. ${howToRecover}`, { file: look.dir });
  }

  /** If `dir` is an entry of some cache (`<root>/entries/<fp>/` with a manifest), verify it like `require`. */
  static async requireIfEntry(dir: string, what: string): Promise<void> {
    const fp = basename(dir);
    if (!isFingerprint(fp) || basename(dirname(dir)) !== 'entries' || !existsSync(join(dir, MANIFEST))) return;
    await new Cache(dirname(dirname(dir))).require(fp, what, 'rerun the pipeline that made it to recompute it');
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
    this.writeSignatures(staging.fingerprint, this.entryDir(staging.fingerprint), files);
    return manifest;
  }

  /**
   * Remove an entry (corrupt, or garbage-collected): move it aside atomically, then delete.
   * Returns false when there was nothing to remove; throws E_CACHE_WRITE when it cannot be
   * removed (a read-only cache), so nobody reports a removal that did not happen.
   */
  evict(fp: string): boolean {
    const dir = this.entryDir(fp);
    if (!existsSync(dir)) return false;
    const aside = join(this.tmpDir, `${fp}.${process.pid}.${randomBytes(4).toString('hex')}.evicted`);
    try {
      mkdirSync(this.tmpDir, { recursive: true });
      renameSync(dir, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return false; // someone else evicted it
      throw cacheWriteError(this.root, dir, e);
    }
    rmSync(aside, { recursive: true, force: true });
    rmSync(this.signaturePath(fp), { force: true });
    return true;
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
      if (!dryRun) {
        try {
          rmSync(join(this.tmpDir, name), { recursive: true, force: true });
        } catch (e) {
          // A read-only cache keeps its leftovers; that must not stop a run that only reads.
          if (readOnlyCode(e)) continue;
          throw e;
        }
      }
      removed.push(join(this.tmpDir, name));
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

/** A failed write or delete in the cache, naming the directory (a read-only cache says so). */
export function cacheWriteError(root: string, path: string, e: unknown): EmopipeError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  const why = readOnlyCode(e) ? `the cache ${root} is read-only here (${code})` : `${code}: ${(e as Error).message}`;
  return new EmopipeError('E_CACHE_WRITE', `cannot change ${path}: ${why}`, { file: path, cause: e });
}

export { readOnlyCode as isReadOnlyError };
