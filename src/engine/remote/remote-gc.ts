import { keptRuns } from '../gc.js';
import type { S3Backend } from './s3-backend.js';

export interface RemoteGcResult {
  store: string;
  keptEntries: number;
  removedEntries: { fingerprint: string; bytes: number }[];
  /** Blobs no kept manifest names (older than the grace period, see BLOB_GRACE_MS). */
  removedBlobs: number;
  dryRun: boolean;
}

/**
 * `gc` on the S3 cache: drop the manifests of entries no kept run of this registry references,
 * then the blobs no remaining manifest names. Blobs younger than the grace period stay: a
 * writer elsewhere may have uploaded them and not yet its manifest. The registry is this
 * machine's, so on a bucket shared by a team run gc where the runs to keep are recorded.
 */
export async function collectGarbageS3(backend: S3Backend, opts: { artifactsDir: string; keepLast?: number; dryRun?: boolean }): Promise<RemoteGcResult> {
  const { referenced } = keptRuns(opts.artifactsDir, opts.keepLast);
  const dryRun = opts.dryRun ?? false;
  const removedEntries: RemoteGcResult['removedEntries'] = [];
  const keptBlobs = new Set<string>();
  let keptEntries = 0;
  for (const fp of await backend.list()) {
    const m = await backend.manifest(fp);
    if (referenced.has(fp)) {
      keptEntries++;
      for (const f of m?.files ?? []) keptBlobs.add(f.sha256);
      continue;
    }
    removedEntries.push({ fingerprint: fp, bytes: m?.files.reduce((a, f) => a + f.size, 0) ?? 0 });
    if (!dryRun) await backend.evict(fp);
  }
  const orphans = await backend.orphanBlobs(keptBlobs);
  if (!dryRun) for (const b of orphans) await backend.deleteBlob(b.sha);
  return { store: backend.description, keptEntries, removedEntries, removedBlobs: orphans.length, dryRun };
}
