import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { mfccOptionsOf, type FrontendConfig } from '../audio/frontend.js';
import { writeFeatureSet, type FeatureIndexRow } from '../corpus/features-set.js';
import { EmopipeError } from '../util/errors.js';
import { Enum, Nullable, Params, Type, type Static } from './params.js';
import { runAudioTasks } from './run-audio-tasks.js';
import { AUDIO_FILE, readClipSet, type ClipSet, type StoredClip } from './clip-store.js';
import { readSplitFile, type SplitName } from '../corpus/split-file.js';

// The owners of frontend.json (audio/frontend.ts) and of the features set (corpus/features-set.ts);
// re-exported for callers of this module.
export { mfccOptionsOf, type FrontendConfig } from '../audio/frontend.js';
export type { FeatureIndexRow } from '../corpus/features-set.js';

export const mfccParamsSchema = Params({
  n_mfcc: Type.Integer({ minimum: 1, maximum: 256, default: 40, description: 'MFCC coefficients per frame.' }),
  n_fft: Enum([256, 512, 1024, 2048, 4096, 8192], { type: 'integer', default: 2048, description: 'FFT size and (periodic Hann) window length.' }),
  hop_length: Type.Integer({ minimum: 1, maximum: 8192, default: 512, description: 'Samples between frames (frames are centred, zero padded).' }),
  n_mels: Type.Integer({ minimum: 1, maximum: 512, default: 128, description: 'Mel bands (Slaney scale, Slaney area normalisation).' }),
  fmin: Type.Number({ minimum: 0, default: 0, description: 'Lowest mel band edge in Hz.' }),
  fmax: Nullable(Type.Number({ minimum: 1, default: null, description: 'Highest mel band edge in Hz; null = half the sample rate.' })),
  top_db: Nullable(Type.Number({ minimum: 0, default: 80, description: 'power_to_db dynamic range below the clip\'s peak; null keeps all.' })),
  frames: Type.Integer({ minimum: 1, maximum: 100000, default: 174, description: 'Frames per clip: shorter clips are zero-padded at the end, longer ones truncated.' }),
});

export type MfccParams = Static<typeof mfccParamsSchema>;

export function frontendOf(p: MfccParams, sampleRate: number): FrontendConfig {
  return { sampleRate, nMfcc: p.n_mfcc, nFft: p.n_fft, hopLength: p.hop_length, nMels: p.n_mels, fmin: p.fmin, fmax: p.fmax, topDb: p.top_db, frames: p.frames };
}

async function run(ctx: StageContext<MfccParams>): Promise<StageResult> {
  const originalsDir = ctx.input('resample').dir;
  const originals = await readClipSet(originalsDir);
  const augmentDir = ctx.maybeInput('augment')?.dir;
  const augmented: ClipSet | undefined = augmentDir ? await readClipSet(augmentDir) : undefined;
  const split = await readSplitFile(ctx.input('split').dir);
  if (augmented && augmented.sampleRate !== originals.sampleRate) {
    throw new EmopipeError('E_STAGE_FAILED', `augment output is at ${augmented.sampleRate} Hz but resample output at ${originals.sampleRate} Hz`);
  }
  const frontend = frontendOf(ctx.params, originals.sampleRate);
  const options = mfccOptionsOf(frontend);

  // Originals first (every split), then the augmented training copies.
  const work: { clip: StoredClip; audioFile: string; split: SplitName }[] = [];
  let unassigned = 0;
  for (const clip of originals.clips) {
    const s = split.assignments[clip.source];
    if (!s) { unassigned++; continue; }
    work.push({ clip, audioFile: join(originalsDir, AUDIO_FILE), split: s });
  }
  for (const clip of augmented?.clips ?? []) work.push({ clip, audioFile: join(augmentDir!, AUDIO_FILE), split: 'train' });
  if (unassigned > 0) ctx.log.warn(`${unassigned} clips have no split assignment and were left out`);

  const outcomes = await runAudioTasks(ctx, 'mfccTask', work.map((w) => ({ audioFile: w.audioFile, offset: w.clip.offset, length: w.clip.length, options })), 'clips');

  const labels = originals.labels;
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const rowSize = frontend.frames * frontend.nMfcc;
  const ok = outcomes.flatMap((o, i) => (o.ok ? [{ w: work[i]!, data: o.value.data }] : []));
  const failures = outcomes.flatMap((o, i) => (o.ok ? [] : [`${work[i]!.clip.source}: ${o.error}`]));
  if (failures.length > 0) throw new EmopipeError('E_STAGE_FAILED', `MFCC failed for ${failures.length} clips, first: ${failures[0]}`);

  const features = new Float32Array(ok.length * rowSize);
  const labelIds = new Int32Array(ok.length);
  const index: FeatureIndexRow[] = [];
  ok.forEach(({ w, data }, i) => {
    if (data.length !== rowSize) throw new EmopipeError('E_STAGE_FAILED', `MFCC of ${w.clip.source} has ${data.length} values, expected ${rowSize}`);
    const id = labelIndex.get(w.clip.label);
    if (id === undefined) throw new EmopipeError('E_STAGE_FAILED', `label ${w.clip.label} of ${w.clip.source} is not in the label set`);
    features.set(data, i * rowSize);
    labelIds[i] = id;
    index.push({ source: w.clip.source, label: w.clip.label, speaker: w.clip.speaker, split: w.split, augmentation: w.clip.augmentation });
  });

  const counts = await writeFeatureSet(ctx.outDir, {
    features, frames: frontend.frames, coefficients: frontend.nMfcc, labelIds, index, labels, synthetic: originals.synthetic, frontend,
  });
  return {
    metrics: { rows: ok.length, ...counts },
    summary: `features.npy [${ok.length}, ${frontend.frames}, ${frontend.nMfcc}] (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')})`,
  };
}

export const mfccKind: StageKind<MfccParams> = {
  kind: 'mfcc',
  description: 'MFCCs exactly as librosa.feature.mfcc, padded/truncated to a fixed frame count, for the original clips (all splits) and the augmented training copies. Writes features.npy [N, frames, n_mfcc], labels.npy, index.json, labels.json, meta.json.',
  paramsSchema: mfccParamsSchema,
  inputs: [
    { kind: 'resample', description: 'the original clips' },
    { kind: 'split', description: 'split of every original clip' },
    { kind: 'augment', optional: true, description: 'augmented training copies' },
  ],
  module: import.meta.url,
  run,
};
