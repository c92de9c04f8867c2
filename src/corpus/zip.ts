/**
 * Unpacking downloaded corpora, on `yauzl` (central directory, ZIP64, file-name validation, and
 * it enforces every entry's declared size while inflating). On top of it, because an archive
 * from the network is hostile until proven otherwise:
 * - zip slip: no absolute, drive-letter or `..` names, and every destination must resolve inside
 *   the target folder; no symbolic links; no entry below another entry that is a file;
 * - zip bombs: declared sizes are checked against caps before anything is written (total size,
 *   and the inflation ratio of the whole archive and of each entry; see ZipLimits), then each
 *   entry is streamed to disk while its bytes are counted against its declared size and its
 *   CRC-32 is checked, so memory stays flat and a lying entry stops at its declared size;
 * - nothing is overwritten: every file is created exclusively.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, normalize, relative, resolve, sep, isAbsolute } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { EmopipeError } from '../util/errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  isDirectory: boolean;
  isSymlink: boolean;
}

/**
 * Caps on what an archive may unpack to. Speech corpora are WAV files, which deflate barely
 * shrinks (RAVDESS: 208 MB zipped, ~1.03× smaller), so 100× is far above any honest corpus and
 * far below a bomb (deflate reaches ~1000×). Entries under `ratioFloorBytes` are exempt from the
 * per-entry ratio (a small text file of spaces is harmless).
 */
export interface ZipLimits {
  /** Sum of declared uncompressed sizes (default 16 GiB). */
  maxTotalBytes: number;
  /** Uncompressed / compressed, for the whole archive and for each entry (default 100). */
  maxRatio: number;
  /** Sizes below this are not ratio-checked (default 1 MiB). */
  ratioFloorBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxTotalBytes: 16 * 1024 ** 3, maxRatio: 100, ratioFloorBytes: 1024 ** 2 };

const bad = (file: string, msg: string) => new EmopipeError('E_DOWNLOAD', `${file}: not a usable ZIP archive: ${msg}`);
const refused = (file: string, msg: string) => new EmopipeError('E_DOWNLOAD', `${file}: refused to unpack: ${msg}`);

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

function describe(e: Entry): ZipEntry {
  return {
    name: e.fileName,
    method: e.compressionMethod,
    crc32: e.crc32,
    compressedSize: e.compressedSize,
    size: e.uncompressedSize,
    isDirectory: e.fileName.endsWith('/'),
    // Unix mode in the high 16 bits of the external attributes (archives made on Unix).
    isSymlink: ((e.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK,
  };
}

/** yauzl's own messages for unsafe names, in our words (they are zip slip attempts). */
function explain(file: string, e: unknown): EmopipeError {
  if (e instanceof EmopipeError) return e;
  const msg = (e as Error).message ?? String(e);
  if (/invalid relative path|absolute path|invalid characters/i.test(msg)) return bad(file, `an entry points outside the target folder (${msg})`);
  if (/end of central directory record signature not found/i.test(msg)) return bad(file, 'no end-of-central-directory record (truncated or not a ZIP)');
  return bad(file, msg);
}

async function openZip(file: string): Promise<ZipFile> {
  try {
    return await yauzl.openPromise(file, { autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true });
  } catch (e) {
    throw explain(file, e);
  }
}

async function entriesOf(file: string, zip: ZipFile): Promise<{ raw: Entry; info: ZipEntry }[]> {
  const out: { raw: Entry; info: ZipEntry }[] = [];
  try {
    for await (const raw of zip.eachEntry()) {
      if (raw.isEncrypted()) throw bad(file, `${raw.fileName} is encrypted`);
      out.push({ raw, info: describe(raw) });
    }
  } catch (e) {
    throw explain(file, e);
  }
  return out;
}

/** The entries of a ZIP file (its central directory). */
export async function listZip(file: string): Promise<ZipEntry[]> {
  const zip = await openZip(file);
  try {
    return (await entriesOf(file, zip)).map((e) => e.info);
  } finally {
    zip.close();
  }
}

/** A safe relative destination for an entry name, or undefined for names that escape the target. */
function safeRelative(name: string): string | undefined {
  const n = normalize(name.replace(/\\/g, '/')).split(sep).join('/').replace(/\/+$/, '');
  if (!n || n === '.' || n.startsWith('/') || n.startsWith('../') || n === '..' || /^[A-Za-z]:/.test(n)) return undefined;
  return n;
}

/** Refuse archives whose declared sizes exceed the caps, before anything is written. */
function checkLimits(file: string, archiveBytes: number, entries: ZipEntry[], limits: ZipLimits): void {
  let total = 0;
  for (const e of entries) {
    total += e.size;
    if (e.size > limits.ratioFloorBytes && e.size > limits.maxRatio * Math.max(1, e.compressedSize)) {
      throw refused(file, `${e.name} would inflate ${e.compressedSize} bytes to ${e.size} (more than ${limits.maxRatio}× — a zip bomb?)`);
    }
  }
  if (total > limits.maxTotalBytes) throw refused(file, `it would unpack to ${total} bytes, over the limit of ${limits.maxTotalBytes}`);
  if (total > limits.ratioFloorBytes && total > limits.maxRatio * Math.max(1, archiveBytes)) {
    throw refused(file, `${archiveBytes} bytes would unpack to ${total} (more than ${limits.maxRatio}× — a zip bomb?)`);
  }
}

/** Counts bytes against the declared size (stopping at once past it) and computes the CRC-32. */
class Checked extends Transform {
  bytes = 0;
  crc = 0;
  constructor(private readonly declared: number, private readonly fail: (msg: string) => Error) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.declared) return cb(this.fail(`inflates to more than its declared ${this.declared} bytes`));
    this.crc = crc32(chunk, this.crc);
    cb(null, chunk);
  }
}

/**
 * Extract every entry of `file` below `destDir` (which should not exist yet). `onEntry` is called
 * after each file (for progress). Skips macOS metadata (`__MACOSX/`). Throws E_DOWNLOAD on a
 * damaged entry, an unsafe path, a link, an entry beyond the limits or a would-be overwrite.
 */
export async function extractZip(
  file: string,
  destDir: string,
  onEntry?: (entry: ZipEntry) => void,
  signal?: AbortSignal,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
): Promise<number> {
  const zip = await openZip(file);
  let written = 0;
  try {
    const entries = (await entriesOf(file, zip)).filter((e) => !e.info.name.startsWith('__MACOSX/'));
    checkLimits(file, (await stat(file)).size, entries.map((e) => e.info), limits);
    const root = resolve(destDir);
    // Plan every destination first: a bad name anywhere means nothing is written.
    const files = new Set<string>();
    const dirs = new Set<string>();
    const plan: { raw: Entry; info: ZipEntry; rel: string }[] = [];
    for (const e of entries) {
      const rel = safeRelative(e.info.name);
      const dest = rel === undefined ? undefined : resolve(root, rel);
      const inside = dest !== undefined && !relative(root, dest).startsWith('..') && !isAbsolute(relative(root, dest));
      if (rel === undefined || !inside) throw bad(file, `entry ${JSON.stringify(e.info.name)} points outside the target folder`);
      if (e.info.isSymlink) throw refused(file, `${e.info.name} is a symbolic link (links are not unpacked)`);
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) {
        const up = parts.slice(0, i).join('/');
        if (files.has(up)) throw refused(file, `${e.info.name} lies below ${up}, which the archive has as a file`);
        dirs.add(up);
      }
      if (files.has(rel)) throw refused(file, `${e.info.name} appears twice`);
      if (e.info.isDirectory) {
        dirs.add(rel);
        continue;
      }
      if (dirs.has(rel)) throw refused(file, `${e.info.name} is both a file and a folder`);
      if (!e.raw.canDecodeFileData()) throw bad(file, `${e.info.name} uses compression method ${e.info.method} (only stored and deflate are supported)`);
      files.add(rel);
      plan.push({ ...e, rel });
    }
    await mkdir(root, { recursive: true });
    for (const d of [...dirs].sort()) await mkdir(join(root, d), { recursive: true });
    for (const e of plan) {
      signal?.throwIfAborted();
      const dest = join(root, e.rel);
      await mkdir(dirname(dest), { recursive: true });
      const check = new Checked(e.info.size, (msg) => bad(file, `${e.info.name} ${msg}`));
      try {
        const stream = await zip.openReadStreamPromise(e.raw);
        await pipeline(stream, check, createWriteStream(dest, { flags: 'wx' }), { signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refused(file, `${e.info.name} would overwrite an existing file`);
        throw err instanceof EmopipeError ? err : bad(file, `${e.info.name} does not inflate: ${(err as Error).message}`);
      }
      if (check.bytes !== e.info.size || check.crc !== e.info.crc32) throw bad(file, `${e.info.name} fails its CRC-32 check`);
      written++;
      onEntry?.(e.info);
    }
  } finally {
    zip.close();
  }
  return written;
}
