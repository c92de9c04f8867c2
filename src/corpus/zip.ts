/**
 * A minimal ZIP reader for unpacking downloaded corpora: the central directory, stored (0) and
 * deflated (8) entries, CRC-32 checked. No ZIP64, encryption or multi-disk archives: such an
 * archive is refused with a message rather than half-extracted.
 */
import { open, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { EmopipeError } from '../util/errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  localOffset: number;
  isDirectory: boolean;
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

const bad = (file: string, msg: string) => new EmopipeError('E_DOWNLOAD', `${file}: not a usable ZIP archive: ${msg}`);

/** Read the central directory of a ZIP file. */
export async function listZip(file: string): Promise<ZipEntry[]> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    // The end-of-central-directory record is 22 bytes plus a comment of up to 65535 bytes.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw bad(file, 'no end-of-central-directory record (truncated or not a ZIP)');
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw bad(file, 'ZIP64 archives are not supported');
    if (cdOffset + cdSize > size) throw bad(file, 'central directory lies beyond the end of the file');
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CEN_SIG) throw bad(file, `central directory entry ${k} is damaged`);
      const flags = cd.readUInt16LE(p + 8);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const name = cd.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLen);
      if (flags & 1) throw bad(file, `${name} is encrypted`);
      entries.push({
        name,
        method: cd.readUInt16LE(p + 10),
        crc32: cd.readUInt32LE(p + 16),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        localOffset: cd.readUInt32LE(p + 42),
        isDirectory: name.endsWith('/'),
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** A safe relative destination for an entry name, or undefined for names that escape the target. */
function safeRelative(name: string): string | undefined {
  const n = normalize(name.replace(/\\/g, '/')).split(sep).join('/');
  if (n.startsWith('/') || n.startsWith('../') || n === '..' || /^[A-Za-z]:/.test(n)) return undefined;
  return n;
}

/**
 * Extract every entry of `file` below `destDir`. `onEntry` is called after each file (for progress).
 * Skips macOS metadata (`__MACOSX/`). Throws E_DOWNLOAD on a damaged entry or an unsafe path.
 */
export async function extractZip(file: string, destDir: string, onEntry?: (entry: ZipEntry) => void, signal?: AbortSignal): Promise<number> {
  const entries = await listZip(file);
  const fh = await open(file, 'r');
  let written = 0;
  try {
    const header = Buffer.alloc(30);
    for (const e of entries) {
      signal?.throwIfAborted();
      if (e.name.startsWith('__MACOSX/')) continue;
      const rel = safeRelative(e.name);
      if (rel === undefined) throw bad(file, `entry ${JSON.stringify(e.name)} points outside the target folder`);
      const dest = join(destDir, rel);
      if (e.isDirectory) {
        await mkdir(dest, { recursive: true });
        continue;
      }
      await fh.read(header, 0, 30, e.localOffset);
      if (header.readUInt32LE(0) !== LOC_SIG) throw bad(file, `local header of ${e.name} is damaged`);
      const start = e.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
      const packed = Buffer.alloc(e.compressedSize);
      const { bytesRead } = await fh.read(packed, 0, e.compressedSize, start);
      if (bytesRead !== e.compressedSize) throw bad(file, `${e.name} is cut off`);
      let data: Buffer;
      if (e.method === 0) data = packed;
      else if (e.method === 8) {
        try {
          data = inflateRawSync(packed);
        } catch (err) {
          throw bad(file, `${e.name} does not inflate: ${(err as Error).message}`);
        }
      } else throw bad(file, `${e.name} uses compression method ${e.method} (only stored and deflate are supported)`);
      if (data.length !== e.size || crc32(data) !== e.crc32) throw bad(file, `${e.name} fails its CRC-32 check`);
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, data);
      written++;
      onEntry?.(e);
    }
  } finally {
    await fh.close();
  }
  return written;
}
