import type { StageSpec } from './config.js';
import { fingerprintOf, fingerprintParts, type FingerprintParts } from './fingerprint.js';

/** What key computation needs from the run's surroundings. */
export interface KeyEnv {
  seed: number;
  resolvePath(p: string): string;
  dataDir: string;
}

export interface StageKey {
  parts: FingerprintParts;
  fingerprint: string;
}

/**
 * A stage's cache key: the one function `run` and `status` both use, so they cannot disagree.
 * `inputs` are the upstream outputs by content, in `needs:` order.
 */
export async function stageKey(s: StageSpec, inputs: FingerprintParts['inputs'], env: KeyEnv): Promise<StageKey> {
  const external = s.kind.externalInputs ? await s.kind.externalInputs(s.params, { resolvePath: env.resolvePath, dataDir: env.dataDir }) : undefined;
  const parts = fingerprintParts(s.kind, s.params, env.seed, inputs, external);
  return { parts, fingerprint: fingerprintOf(parts) };
}
