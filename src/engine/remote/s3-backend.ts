import { createWriteStream, mkdirSync, createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { Cache, contentHashOf, type EntryManifest, type Lookup, type Staging } from '../cache.js';
import { acquireLock, type Lock, type WaitOptions } from '../lock.js';
import type { StageResult } from '../stage.js';
import { EmopipeError } from '../../util/errors.js';
import type { CacheBackend } from './backend.js';


/** A bucket and key prefix (`s3://bucket/prefix`). */
export interface S3Location {
  bucket: string;
  /** Key prefix without leading/trailing slashes ('' for the bucket root). */
  prefix: string;
}

/**
 * The cache in an S3-compatible object store, with a local read-through copy.
 *
 *   <prefix>/blobs/<sha256>          file contents, addressed by their hash
 *   <prefix>/entries/<fp>.json       the entry's manifest (same format as the local one)
 *
 * Publish uploads the blobs first and the manifest last, so a reader that finds a manifest
 * finds every object it names; readers trust an entry only through its manifest and re-hash
 * every byte they download. Two writers of one fingerprint are safe: blobs are keyed by their
 * content (equal keys, equal bytes) and a manifest PUT is atomic, so a reader sees one
 * writer's manifest whole, and it names only blobs that exist. Downloads land in a local
 * `Cache` (EMOPIPE_LOCAL_CACHE), which stages read from and which serves later hits.
 *
 * Credentials come only from the AWS SDK's default chain (environment, shared config files,
 * SSO, instance roles); nothing here reads, prints or records them.
 */
/** Blobs unreferenced for less than this are kept by gc: a writer may be between blobs and manifest. */
export const BLOB_GRACE_MS = 60 * 60 * 1000;

const DOWNLOADS_AT_ONCE = 8;

export class S3Backend implements CacheBackend {
  readonly local: Cache;
  readonly description: string;
  private readonly client: S3Client;
  private readonly endpoint: string;

  constructor(readonly location: S3Location, localRoot: string, env: NodeJS.ProcessEnv = process.env) {
    this.local = new Cache(localRoot);
    // The SDK warns on every run that its releases after January 2027 need Node 22; this
    // project pins a release that supports Node 20, so that warning is noise on stderr.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || '';
    this.description = `s3://${location.bucket}${location.prefix ? '/' + location.prefix : ''}${this.endpoint ? ` at ${this.endpoint}` : ''}`;
    this.client = new S3Client({
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      ...(this.endpoint ? { endpoint: this.endpoint, forcePathStyle: true } : {}),
      // Many S3-compatible stores do not implement the newer default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
    });
  }

  get tmpDir(): string {
    return this.local.tmpDir;
  }

  get localRoot(): string {
    return this.local.root;
  }

  private key(...parts: string[]): string {
    return [this.location.prefix, ...parts].filter(Boolean).join('/');
  }

  private manifestKey(fp: string): string {
    return this.key('entries', `${fp}.json`);
  }

  private blobKey(sha: string): string {
    return this.key('blobs', sha);
  }

  /** Check once that the bucket is there and the credentials are accepted (clear errors before any work). */
  async open(): Promise<this> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }));
    } catch (e) {
      throw this.explain(e, `bucket ${this.location.bucket}`);
    }
    return this;
  }

  /** A named error for what went wrong talking to the store (no stack, no credentials). */
  explain(e: unknown, what: string): EmopipeError {
    if (e instanceof EmopipeError) return e;
    const err = e as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = err.$metadata?.httpStatusCode;
    // A HEAD has no body, so the SDK cannot name the error: say the HTTP status instead.
    const name = err.name && err.name !== 'Unknown' ? err.name : status ? `HTTP ${status}` : (err.code ?? 'Error');
    const where = this.description;
    if (name === 'NoSuchBucket' || (status === 404 && what.startsWith('bucket'))) {
      return new EmopipeError('E_CACHE_REMOTE', `S3 bucket '${this.location.bucket}' does not exist (${where})`, { cause: e });
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'ExpiredToken', 'InvalidToken', 'CredentialsProviderError'].includes(name) || status === 403) {
      return new EmopipeError('E_CACHE_REMOTE', `S3 credentials rejected for ${what} (${name}; ${where}); credentials come from the standard AWS chain (AWS_* variables, ~/.aws)`, { cause: e });
    }
    const netCode = (err.code ?? (e as { cause?: { code?: string } }).cause?.code ?? '') as string;
    if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(netCode) || name === 'TimeoutError' || /ECONNREFUSED|ENOTFOUND|timed? ?out/i.test(err.message ?? '')) {
      return new EmopipeError('E_CACHE_REMOTE', `cannot reach the S3 endpoint for ${where} (${netCode || name})`, { cause: e });
    }
    return new EmopipeError('E_CACHE_REMOTE', `S3 ${what} failed (${where}): ${name}${err.message && err.message !== name ? `: ${err.message}` : ''}`, { cause: e });
  }

  private async getManifestText(fp: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.manifestKey(fp) }));
      return await r.Body!.transformToString('utf8');
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
      throw this.explain(e, `reading entry ${fp.slice(0, 12)}`);
    }
  }

  async lookup(fp: string, verify: 'auto' | 'full' | 'size'): Promise<Lookup> {
    const near = await this.local.lookup(fp, verify);
    if (near.state === 'hit') return near;
    if (near.state === 'corrupt') this.local.evict(fp);
    const text = await this.getManifestText(fp);
    if (text === undefined) return { state: 'miss' };
    const where = `s3 ${this.manifestKey(fp)}`;
    let manifest: EntryManifest;
    try {
      manifest = JSON.parse(text) as EntryManifest;
    } catch {
      return { state: 'corrupt', reason: `manifest unreadable (${where})`, dir: '' };
    }
    if (manifest.fingerprint !== fp || !Array.isArray(manifest.files) || contentHashOf(manifest.files) !== manifest.contentHash) {
      return { state: 'corrupt', reason: `manifest does not match its entry (${where})`, dir: '' };
    }
    for (const f of manifest.files) {
      // Paths come from the store: never let one write outside the staging dir.
      if (typeof f.path !== 'string' || f.path.startsWith('/') || f.path.split('/').some((s) => s === '..' || s === '') || !/^[0-9a-f]{64}$/.test(f.sha256)) {
        return { state: 'corrupt', reason: `manifest names an invalid file ${JSON.stringify(f.path)} (${where})`, dir: '' };
      }
    }
    const staging = this.local.begin(fp);
    try {
      const queue = new PQueue({ concurrency: DOWNLOADS_AT_ONCE });
      const problems = await Promise.all(manifest.files.map((f) => queue.add(() => this.download(f, join(staging.dir, f.path)))));
      const bad = problems.find((p) => p !== undefined);
      if (bad) {
        this.local.discard(staging);
        return { state: 'corrupt', reason: bad, dir: '' };
      }
      const published = await this.local.publish(staging, { stage: manifest.stage, kind: manifest.kind, seconds: manifest.seconds, result: manifest.result });
      return { state: 'hit', manifest: published, dir: this.local.entryDir(fp) };
    } catch (e) {
      this.local.discard(staging);
      throw e;
    }
  }

  /** Download one blob, hashing as it streams; a problem is returned as a reason, not thrown. */
  private async download(f: { path: string; size: number; sha256: string }, to: string): Promise<string | undefined> {
    let body: Readable;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(f.sha256) }));
      body = r.Body as Readable;
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return `object ${this.blobKey(f.sha256)} (file ${f.path}) is missing`;
      throw this.explain(e, `reading ${this.blobKey(f.sha256)}`);
    }
    mkdirSync(dirname(to), { recursive: true });
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(body, tap, createWriteStream(to));
    if (size !== f.size || hash.digest('hex') !== f.sha256) {
      // The key is the content's hash, so this object is provably damaged: remove it, so the
      // recomputation's publish uploads it afresh instead of skipping it as present.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(f.sha256) })).catch(() => undefined);
      return `object ${this.blobKey(f.sha256)} (file ${f.path}) content hash mismatch`;
    }
    return undefined;
  }

  begin(fp: string): Staging {
    return this.local.begin(fp);
  }

  discard(staging: Staging): void {
    this.local.discard(staging);
  }

  async publish(staging: Staging, meta: { stage: string; kind: string; seconds: number; result: StageResult }): Promise<{ manifest: EntryManifest; dir: string }> {
    const fp = staging.fingerprint;
    const manifest = await this.local.publish(staging, meta);
    const dir = this.local.entryDir(fp);
    const queue = new PQueue({ concurrency: DOWNLOADS_AT_ONCE });
    const seen = new Set<string>();
    try {
      await Promise.all(
        manifest.files
          .filter((f) => !seen.has(f.sha256) && seen.add(f.sha256))
          .map((f) => queue.add(() => this.upload(join(dir, f.path), f.sha256, f.size))),
      );
      // Last: from now on readers see the entry.
      await this.client.send(
        new PutObjectCommand({ Bucket: this.location.bucket, Key: this.manifestKey(fp), Body: JSON.stringify(manifest, null, 1), ContentType: 'application/json' }),
      );
    } catch (e) {
      throw this.explain(e, `publishing entry ${fp.slice(0, 12)}`);
    }
    return { manifest, dir };
  }

  private async upload(file: string, sha: string, size: number): Promise<void> {
    const Key = this.blobKey(sha);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key }));
      if (head.ContentLength === size) return; // same key, same bytes (damaged ones are deleted when detected)
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name !== 'NotFound' && name !== 'NoSuchKey') throw e;
    }
    await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key, Body: createReadStream(file), ContentLength: size }));
  }

  async evict(fp: string): Promise<void> {
    this.local.evict(fp);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.manifestKey(fp) }));
    } catch (e) {
      throw this.explain(e, `removing entry ${fp.slice(0, 12)}`);
    }
  }

  /**
   * A lock among the processes sharing this local copy. Across machines the queue's job id
   * (the fingerprint) keeps a stage from being computed twice; correctness never depends on it.
   */
  /** Inputs are read from the local copy: checked there, as for a local cache. */
  verifyInputs(inputs: readonly { name: string; dir: string }[]): Promise<void> {
    return this.local.verifyInputs(inputs);
  }

  lock(fp: string, opts: WaitOptions): Promise<Lock | undefined> {
    return acquireLock(this.local.lockPath(fp), opts);
  }

  /** Every object under a sub-prefix: key and last-modified time. */
  private async listKeys(sub: string): Promise<{ key: string; modified: number }[]> {
    const out: { key: string; modified: number }[] = [];
    const Prefix = this.key(sub) + '/';
    let ContinuationToken: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix, ContinuationToken }));
        for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key.slice(Prefix.length), modified: o.LastModified?.getTime() ?? 0 });
        ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (ContinuationToken);
    } catch (e) {
      throw this.explain(e, `listing ${Prefix}`);
    }
    return out;
  }

  async list(): Promise<string[]> {
    return (await this.listKeys('entries')).map((o) => o.key).filter((k) => /^[0-9a-f]{64}\.json$/.test(k)).map((k) => k.slice(0, 64));
  }

  async manifest(fp: string): Promise<EntryManifest | undefined> {
    const text = await this.getManifestText(fp);
    try {
      return text === undefined ? undefined : (JSON.parse(text) as EntryManifest);
    } catch {
      return undefined;
    }
  }

  async entrySize(fp: string): Promise<number> {
    return (await this.manifest(fp))?.files.reduce((a, f) => a + f.size, 0) ?? 0;
  }

  /** Blobs no remaining manifest names, older than the grace period (gc). */
  async orphanBlobs(referenced: Set<string>, now = Date.now()): Promise<{ sha: string }[]> {
    return (await this.listKeys('blobs')).filter((o) => !referenced.has(o.key) && now - o.modified > BLOB_GRACE_MS).map((o) => ({ sha: o.key }));
  }

  async deleteBlob(sha: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.blobKey(sha) }));
    } catch (e) {
      throw this.explain(e, `removing ${this.blobKey(sha)}`);
    }
  }

  cleanStaleTmp(dryRun = false): string[] {
    return this.local.cleanStaleTmp(dryRun);
  }

  close(): void {
    this.client.destroy();
  }
}
