import type { StageKind } from '../engine/stage.js';
import { evaluateKind } from './evaluate.js';
import { ingestKind } from './ingest.js';
import { splitKind } from './split.js';
import { resampleKind } from './resample.js';
import { augmentKind } from './augment.js';
import { mfccKind } from './mfcc.js';
import { trainKind } from './train.js';
import { summarizeKind } from './summarize.js';

/** Every built-in stage kind. Each stage module adds itself here with one import line. */
export const builtinStageKinds: StageKind[] = [ingestKind, splitKind, resampleKind, augmentKind, mfccKind, evaluateKind, trainKind, summarizeKind];
