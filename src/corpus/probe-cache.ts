import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** What ingest learns from reading one audio file in full. */
export interface ProbeResult {
  sha256: string;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  durationS: number;
}

interface Entry extends ProbeResult {
  size: number;
  mtimeMs: number;
}

/**
 * Bump when what a probe checks or returns changes: entries written by an older probe are ignored.
 * (Corrupt files are never cached, so a file once rejected is always read again.)
 */
const PROBE_VERSION = 1;

/** Default location: `$EMOPIPE_CACHE/hashes.json`, else `./cache/hashes.json`. */
export function defaultProbeCacheFile(): string {
  return join(process.env.EMOPIPE_CACHE ? resolve(process.env.EMOPIPE_CACHE) : resolve('cache'), 'hashes.json');
}

/**
 * Content hashes and header facts of audio files, keyed by absolute path and valid while the
 * file's size and mtime are unchanged. Purely an optimisation: a miss, a damaged cache file or an
 * unwritable directory only means the file is read again.
 */
export class ProbeCache {
  private entries = new Map<string, Entry>();
  private dirty = false;

  constructor(readonly file: string = defaultProbeCacheFile()) {
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { version?: number; entries?: Record<string, Entry> };
      if (doc.version === PROBE_VERSION && doc.entries && typeof doc.entries === 'object') {
        for (const [k, v] of Object.entries(doc.entries)) this.entries.set(k, v);
      }
    } catch {
      // Missing or unreadable: start empty.
    }
  }

  get(path: string, size: number, mtimeMs: number): ProbeResult | undefined {
    const e = this.entries.get(path);
    if (!e || e.size !== size || e.mtimeMs !== mtimeMs) return undefined;
    return { sha256: e.sha256, sampleRate: e.sampleRate, channels: e.channels, bitsPerSample: e.bitsPerSample, durationS: e.durationS };
  }

  set(path: string, size: number, mtimeMs: number, r: ProbeResult): void {
    this.entries.set(path, { ...r, size, mtimeMs });
    this.dirty = true;
  }

  /** Write atomically (temp file + rename) so a concurrent reader never sees half a file. Returns false if it could not. */
  save(): boolean {
    if (!this.dirty) return true;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
      const entries: Record<string, Entry> = {};
      for (const [k, v] of [...this.entries].sort((a, b) => (a[0] < b[0] ? -1 : 1))) entries[k] = v;
      writeFileSync(tmp, JSON.stringify({ version: PROBE_VERSION, entries }));
      renameSync(tmp, this.file);
      this.dirty = false;
      return true;
    } catch {
      return false;
    }
  }
}
