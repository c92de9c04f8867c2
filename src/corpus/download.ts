/**
 * Fetch a corpus archive over HTTP(S), verify its checksum and unpack it into place atomically:
 * the target folder appears complete or not at all, and a verified archive is kept beside it so
 * a failed unpack does not mean downloading 200 MB again.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import type { Logger, ProgressReporter } from '../util/log.js';
import { EmopipeError, errorMessage } from '../util/errors.js';
import { extractZip, listZip } from './zip.js';

export interface DownloadSpec {
  url: string;
  /** Hex digests; at least one is required. */
  md5?: string | null;
  sha256?: string | null;
}

export interface DownloadOptions {
  progress?: ProgressReporter;
  log?: Logger;
  signal?: AbortSignal;
  /** Appended to every failure: how to get the data by hand and where to put it. */
  howTo: string;
}

interface Digests {
  md5: string;
  sha256: string;
}

function checksumProblem(spec: DownloadSpec, got: Digests): string | undefined {
  if (spec.sha256 && spec.sha256.toLowerCase() !== got.sha256) return `sha256 is ${got.sha256}, expected ${spec.sha256.toLowerCase()}`;
  if (spec.md5 && spec.md5.toLowerCase() !== got.md5) return `md5 is ${got.md5}, expected ${spec.md5.toLowerCase()}`;
  return undefined;
}

async function digestFile(file: string): Promise<Digests> {
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    md5.update(chunk as Buffer);
    sha.update(chunk as Buffer);
  }
  return { md5: md5.digest('hex'), sha256: sha.digest('hex') };
}

/** The archive's file name: the last segment of the URL path. */
export function archiveName(url: string): string {
  try {
    const name = basename(decodeURIComponent(new URL(url).pathname));
    return name && name !== '/' ? name : 'download.zip';
  } catch {
    return 'download.zip';
  }
}

/** Stream `url` to `dest`, hashing as it goes. */
async function fetchToFile(url: string, dest: string, o: DownloadOptions): Promise<Digests> {
  const fail = (why: string, cause?: unknown) =>
    new EmopipeError('E_DOWNLOAD', `could not download ${url}: ${why}.\n${o.howTo}`, { cause });
  let res: Response;
  try {
    res = await fetch(url, { signal: o.signal, redirect: 'follow' });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw fail(cause?.code ? `${cause.code} (no network, or the host is unreachable)` : cause?.message ?? errorMessage(e), e);
  }
  if (!res.ok || !res.body) throw fail(`HTTP ${res.status} ${res.statusText}`.trim());
  const total = Number(res.headers.get('content-length') ?? 0);
  o.progress?.start(total > 0 ? total : 0, 'bytes', `downloading ${archiveName(url)}`);
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  const out = createWriteStream(dest);
  let received = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      md5.update(chunk);
      sha.update(chunk);
      received += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
      o.progress?.tick(chunk.length);
    }
    out.end();
    await once(out, 'finish');
  } catch (e) {
    out.destroy();
    if (o.signal?.aborted) throw e;
    throw fail(`the connection broke after ${received} bytes (${errorMessage(e)})`, e);
  } finally {
    o.progress?.done();
  }
  if (total > 0 && received !== total) throw fail(`received ${received} of ${total} bytes`);
  return { md5: md5.digest('hex'), sha256: sha.digest('hex') };
}

/**
 * Make `targetDir` hold the unpacked archive at `spec.url`. Does nothing when it already exists.
 * The archive is kept as `<parent of targetDir>/<archive name>` and reused when its checksum matches.
 */
export async function downloadAndUnpack(spec: DownloadSpec, targetDir: string, o: DownloadOptions): Promise<void> {
  if (existsSync(targetDir)) return;
  if (!spec.md5 && !spec.sha256) {
    throw new EmopipeError('E_DOWNLOAD', `download of ${spec.url} needs a checksum (download.md5 or download.sha256) to verify what arrives.\n${o.howTo}`);
  }
  const parent = dirname(targetDir);
  await mkdir(parent, { recursive: true });
  const archive = join(parent, archiveName(spec.url));

  let verified = false;
  if (existsSync(archive)) {
    verified = checksumProblem(spec, await digestFile(archive)) === undefined;
    if (verified) o.log?.info(`using the already downloaded ${archive}`);
  }
  if (!verified) {
    const part = `${archive}.part-${process.pid}`;
    try {
      const got = await fetchToFile(spec.url, part, o);
      const problem = checksumProblem(spec, got);
      if (problem) {
        throw new EmopipeError('E_DOWNLOAD', `downloaded ${spec.url} but its checksum does not match: ${problem}. The file was deleted; the download may have been corrupted or the URL serves a different file.\n${o.howTo}`);
      }
      await rename(part, archive);
    } finally {
      await rm(part, { force: true });
    }
  }

  const staging = `${targetDir}.unpacking-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  try {
    const total = (await listZip(archive)).filter((e) => !e.isDirectory).length;
    o.progress?.start(total, 'files', `unpacking ${basename(archive)}`);
    await extractZip(archive, staging, () => o.progress?.tick(1), o.signal);
    o.progress?.done();
    await rename(staging, targetDir);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    if (e instanceof EmopipeError) throw new EmopipeError(e.code, `${e.message}\n${o.howTo}`, { cause: e });
    throw e;
  }
  const s = await stat(archive);
  o.log?.info(`unpacked ${basename(archive)} (${(s.size / 1e6).toFixed(1)} MB) into ${targetDir}`);
}
