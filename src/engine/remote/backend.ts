import type { EntryManifest, Lookup, Staging } from '../cache.js';
import type { Lock, WaitOptions } from '../lock.js';
import type { StageResult } from '../stage.js';

/**
 * Where stage outputs live: one interface, two backends (the local directory of today and an
 * S3-compatible object store). Whatever the backend, a hit is a *local, verified directory*
 * (stages only ever read local files) and a stage always writes into a local staging directory.
 */
export interface CacheBackend {
  /** For messages: `cache ./cache` or `s3://bucket/prefix` (never credentials). */
  readonly description: string;
  /** Local directory owned by the backend where temp dirs may be made (`reproduce --verify`). */
  readonly tmpDir: string;
  /** Local root: where `markActive` and stale temp dirs live. */
  readonly localRoot: string;
  /** Find and verify an entry; a remote one is downloaded and verified first. */
  lookup(fp: string, verify: 'auto' | 'full' | 'size'): Promise<Lookup>;
  /** A fresh local directory for a stage to write into. */
  begin(fp: string): Staging;
  discard(staging: Staging): void;
  /** Publish atomically as seen by readers; returns the manifest and the entry's local dir. */
  publish(staging: Staging, meta: { stage: string; kind: string; seconds: number; result: StageResult }): Promise<{ manifest: EntryManifest; dir: string }>;
  /**
   * Check the entries a stage is about to read, content and all (CRC-32), whatever their stat
   * says: a damaged input is evicted and fails the stage (E_CACHE_CORRUPT) instead of feeding it.
   */
  verifyInputs(inputs: readonly { name: string; dir: string }[]): Promise<void>;
  /** Remove an entry (corrupt, or garbage-collected). */
  evict(fp: string): Promise<void>;
  /** This process's lock on computing `fp` (undefined: `shouldStop` said to stop waiting). */
  lock(fp: string, opts: WaitOptions): Promise<Lock | undefined>;
  /** Fingerprints of all published entries. */
  list(): Promise<string[]>;
  /** Bytes of an entry, from its manifest (0 if unreadable). */
  entrySize(fp: string): Promise<number>;
  cleanStaleTmp(dryRun?: boolean): string[];
  close?(): void;
}
