import { delimiter, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtinStageKinds } from '../stages/index.js';
import { kindRegistry, type KindRegistry } from '../engine/kinds.js';
import type { StageKind } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';

/**
 * The built-in stage kinds, plus those of the modules named in EMOPIPE_EXTRA_KINDS
 * (paths separated by the platform's path delimiter; each module exports
 * `stageKinds: StageKind[]`). That hook is how tests and plugins add kinds to the CLI.
 */
export async function loadKinds(env: NodeJS.ProcessEnv = process.env): Promise<KindRegistry> {
  const extra: StageKind[] = [];
  for (const path of (env.EMOPIPE_EXTRA_KINDS ?? '').split(delimiter).filter(Boolean)) {
    let mod: { stageKinds?: StageKind[] };
    try {
      mod = (await import(pathToFileURL(resolve(path)).href)) as { stageKinds?: StageKind[] };
    } catch (e) {
      throw new EmopipeError('E_USAGE', `EMOPIPE_EXTRA_KINDS: cannot load ${path}: ${(e as Error).message}`);
    }
    if (!Array.isArray(mod.stageKinds)) throw new EmopipeError('E_USAGE', `EMOPIPE_EXTRA_KINDS: ${path} does not export stageKinds: StageKind[]`);
    extra.push(...mod.stageKinds);
  }
  return kindRegistry(builtinStageKinds, extra);
}
