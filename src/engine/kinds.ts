import type { StageKind } from './stage.js';
import { EmopipeError } from '../util/errors.js';

/** The stage kinds a pipeline may use, by name. */
export type KindRegistry = ReadonlyMap<string, StageKind>;

export function kindRegistry(...lists: readonly StageKind[][]): KindRegistry {
  const map = new Map<string, StageKind>();
  for (const list of lists) {
    for (const k of list) {
      if (map.has(k.kind)) throw new EmopipeError('E_USAGE', `stage kind '${k.kind}' is registered twice`);
      map.set(k.kind, k);
    }
  }
  return map;
}
