import { hashJson } from '../util/hash.js';
import type { StageKind } from './stage.js';
import { implementationVersion } from './version.js';

/** Everything a stage's output may depend on. Recorded per run so `status` can say what changed. */
export interface FingerprintParts {
  kind: string;
  /** Implementation version (hash of the kind's code). */
  version: string;
  /** Resolved params minus the kind's nonSemanticParams. */
  params: Record<string, unknown>;
  /** Pipeline seed: only for `random` kinds. */
  seed?: number;
  /** Hash of the kind's externalInputs() summary, for kinds reading files outside the cache. */
  external?: string;
  /** Upstream outputs by content, in `needs:` order. */
  inputs: { name: string; kind: string; contentHash: string }[];
}

/** Drop dotted paths (e.g. 'device', 'runtime.threads') from a params copy. */
export function semanticParams(kind: StageKind, params: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(params);
  for (const path of kind.nonSemanticParams ?? []) {
    const segs = path.split('.');
    let obj: Record<string, unknown> | undefined = out;
    for (let i = 0; i < segs.length - 1 && obj; i++) {
      const next: unknown = obj[segs[i]!];
      obj = next && typeof next === 'object' && !Array.isArray(next) ? (next as Record<string, unknown>) : undefined;
    }
    if (obj) delete obj[segs[segs.length - 1]!];
  }
  return out;
}

export function fingerprintParts(
  kind: StageKind,
  params: Record<string, unknown>,
  seed: number,
  inputs: FingerprintParts['inputs'],
  externalSummary: unknown,
): FingerprintParts {
  return {
    kind: kind.kind,
    version: implementationVersion(kind.module),
    params: semanticParams(kind, params),
    ...(kind.random ? { seed } : {}),
    ...(externalSummary !== undefined ? { external: hashJson(externalSummary) } : {}),
    inputs,
  };
}

/** sha256 over the canonical JSON of the parts. */
export function fingerprintOf(parts: FingerprintParts): string {
  return hashJson(parts);
}
