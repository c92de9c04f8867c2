import { Cache, type EntryManifest, type Lookup, type Staging } from '../cache.js';
import { acquireLock, type Lock, type WaitOptions } from '../lock.js';
import type { StageResult } from '../stage.js';
import type { CacheBackend } from './backend.js';

/** Today's cache directory behind the backend interface (a thin adapter over `Cache`). */
export class LocalBackend implements CacheBackend {
  readonly cache: Cache;
  readonly description: string;

  constructor(root: string) {
    this.cache = new Cache(root);
    this.description = `cache ${root}`;
  }

  get tmpDir(): string {
    return this.cache.tmpDir;
  }

  get localRoot(): string {
    return this.cache.root;
  }

  entryDir(fp: string): string {
    return this.cache.entryDir(fp);
  }

  lookup(fp: string, verify: 'auto' | 'full' | 'size'): Promise<Lookup> {
    return this.cache.lookup(fp, verify);
  }

  begin(fp: string): Staging {
    return this.cache.begin(fp);
  }

  discard(staging: Staging): void {
    this.cache.discard(staging);
  }

  async publish(staging: Staging, meta: { stage: string; kind: string; seconds: number; result: StageResult }): Promise<{ manifest: EntryManifest; dir: string }> {
    const manifest = await this.cache.publish(staging, meta);
    return { manifest, dir: this.cache.entryDir(staging.fingerprint) };
  }

  verifyInputs(inputs: readonly { name: string; dir: string }[]): Promise<void> {
    return this.cache.verifyInputs(inputs);
  }

  async evict(fp: string): Promise<void> {
    this.cache.evict(fp);
  }

  lock(fp: string, opts: WaitOptions): Promise<Lock | undefined> {
    return acquireLock(this.cache.lockPath(fp), opts);
  }

  async list(): Promise<string[]> {
    return this.cache.listEntries();
  }

  async entrySize(fp: string): Promise<number> {
    return this.cache.entrySize(fp);
  }

  cleanStaleTmp(dryRun = false): string[] {
    return this.cache.cleanStaleTmp(dryRun);
  }
}
