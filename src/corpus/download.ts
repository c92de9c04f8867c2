/**
 * Fetch a corpus archive over HTTP(S), verify its checksum and unpack it into place atomically:
 * the target folder appears complete or not at all, and a verified archive is kept so a failed
 * unpack does not mean downloading 200 MB again.
 *
 * Where things go is never up to the server or the URL: the archive is written to a temp file
 * in `<data dir>/downloads/` under a name made of its expected checksum, and kept there once
 * verified; nothing that exists is ever overwritten (the temp file is created exclusively, the
 * target folder must not exist, unpacking creates every file exclusively).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
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
  /** The data directory: archives are kept in `<dataDir>/downloads/`. */
  dataDir: string;
  /** Give up when the server sends nothing (no answer, or a stalled body) for this long (default 60 s). */
  timeoutS?: number;
}

export const DEFAULT_DOWNLOAD_TIMEOUT_S = 60;

/**
 * `<dataDir>/<into>`, refusing anything that does not resolve strictly inside the data
 * directory (`..`, absolute paths): a pipeline names a folder of ours, never a place on disk.
 */
export function pathInDataDir(dataDir: string, into: string, what = 'download.into'): string {
  const root = resolve(dataDir);
  const target = resolve(root, into);
  const rel = relative(root, target);
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || isAbsolute(into)) {
    throw new EmopipeError('E_PIPELINE_INVALID', `${what} ${JSON.stringify(into)} must name a folder inside the data directory ${root}`);
  }
  return target;
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

/** The last segment of the URL path, for messages only (it never names a file). */
export function archiveName(url: string): string {
  try {
    const name = basename(decodeURIComponent(new URL(url).pathname));
    return name && name !== '/' ? name : 'download.zip';
  } catch {
    return 'download.zip';
  }
}

/** Where a verified archive is kept: named by its expected checksum, in our own folder. */
export function archivePath(dataDir: string, spec: DownloadSpec): string {
  const sum = (spec.sha256 ? `sha256-${spec.sha256}` : `md5-${spec.md5}`).toLowerCase();
  if (!/^(sha256-[0-9a-f]{64}|md5-[0-9a-f]{32})$/.test(sum)) {
    throw new EmopipeError('E_PIPELINE_INVALID', `download checksum ${JSON.stringify(spec.sha256 ?? spec.md5)} is not a hex ${spec.sha256 ? 'SHA-256' : 'MD5'} digest`);
  }
  return join(resolve(dataDir), 'downloads', `${sum}.zip`);
}

/**
 * Stream `url` to `dest` (created exclusively), hashing as it goes. Says so when the server keeps
 * us waiting, and gives up when nothing arrives for `timeoutS` seconds (no answer, or a stall).
 */
async function fetchToFile(url: string, dest: string, o: DownloadOptions): Promise<Digests> {
  const fail = (why: string, cause?: unknown) =>
    new EmopipeError('E_DOWNLOAD', `could not download ${url}: ${why}.\n${o.howTo}`, { cause });
  const timeoutMs = Math.max(1, (o.timeoutS ?? DEFAULT_DOWNLOAD_TIMEOUT_S) * 1000);
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  const idle = new AbortController();
  let lastActivity = Date.now();
  let phase = 'no answer';
  let warned = false;
  const watchdog = setInterval(() => {
    const quiet = Date.now() - lastActivity;
    if (quiet >= timeoutMs) idle.abort();
    else if (!warned && quiet >= Math.min(5000, timeoutMs / 2)) {
      warned = true;
      o.log?.info(`waiting for ${host}: ${phase} for ${Math.round(quiet / 1000)} s (giving up after ${Math.round(timeoutMs / 1000)} s; download.timeout_s sets this)`);
      o.progress?.label(`waiting for ${host}`);
    }
  }, Math.min(250, timeoutMs / 4));
  const signal = o.signal ? AbortSignal.any([o.signal, idle.signal]) : idle.signal;
  const timedOut = () => fail(`${phase} from ${host} for ${Math.round(timeoutMs / 1000)} s (download.timeout_s)`);
  try {
    o.progress?.start(0, 'bytes', `connecting to ${host}`);
    let res: Response;
    try {
      res = await fetch(url, { signal, redirect: 'follow' });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      if (idle.signal.aborted) throw timedOut();
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw fail(cause?.code ? `${cause.code} (no network, or the host is unreachable)` : cause?.message ?? errorMessage(e), e);
    }
    if (!res.ok || !res.body) throw fail(`HTTP ${res.status} ${res.statusText}`.trim());
    lastActivity = Date.now();
    phase = 'no data';
    warned = false;
    const total = Number(res.headers.get('content-length') ?? 0);
    o.progress?.start(total > 0 ? total : 0, 'bytes', `downloading ${archiveName(url)}`);
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    const out = createWriteStream(dest, { flags: 'wx' });
    let received = 0;
    try {
      await once(out, 'open');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        lastActivity = Date.now();
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
      if (idle.signal.aborted) throw timedOut();
      throw fail(`the connection broke after ${received} bytes (${errorMessage(e)})`, e);
    }
    if (total > 0 && received !== total) throw fail(`received ${received} of ${total} bytes`);
    return { md5: md5.digest('hex'), sha256: sha.digest('hex') };
  } finally {
    clearInterval(watchdog);
    o.progress?.done();
  }
}

/**
 * Make `targetDir` hold the unpacked archive at `spec.url`. Does nothing when it already exists.
 * The archive is kept as `<dataDir>/downloads/<checksum>.zip` and reused when its checksum matches.
 */
export async function downloadAndUnpack(spec: DownloadSpec, targetDir: string, o: DownloadOptions): Promise<void> {
  if (existsSync(targetDir)) return;
  if (!spec.md5 && !spec.sha256) {
    throw new EmopipeError('E_DOWNLOAD', `download of ${spec.url} needs a checksum (download.md5 or download.sha256) to verify what arrives.\n${o.howTo}`);
  }
  const archive = archivePath(o.dataDir, spec);
  await mkdir(dirname(archive), { recursive: true });

  let verified = false;
  if (existsSync(archive)) {
    verified = checksumProblem(spec, await digestFile(archive)) === undefined;
    if (verified) o.log?.info(`using the already downloaded ${archive}`);
    // A damaged copy of ours (same expected checksum, wrong content): replaced below.
  }
  if (!verified) {
    const part = `${archive}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
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

  await mkdir(dirname(targetDir), { recursive: true });
  const staging = `${targetDir}.unpacking-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const total = (await listZip(archive)).filter((e) => !e.isDirectory).length;
    o.progress?.start(total, 'files', `unpacking ${archiveName(spec.url)}`);
    await extractZip(archive, staging, () => o.progress?.tick(1), o.signal);
    o.progress?.done();
    if (existsSync(targetDir)) throw new EmopipeError('E_DOWNLOAD', `${targetDir} appeared while unpacking; it is left as it is`);
    await rename(staging, targetDir);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    if (e instanceof EmopipeError) throw new EmopipeError(e.code, `${e.message}\n${o.howTo}`, { cause: e });
    throw e;
  }
  const s = await stat(archive);
  o.log?.info(`unpacked ${archiveName(spec.url)} (${(s.size / 1e6).toFixed(1)} MB) into ${targetDir}`);
}
