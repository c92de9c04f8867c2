import type { StageKind } from '../engine/stage.js';

/** Every built-in stage kind. Each stage module adds itself here with one import line. */
export const builtinStageKinds: StageKind[] = [];
