import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import type { AugmentSpec } from '../audio/augment.js';
import { EmopipeError } from '../util/errors.js';
import { runAudioTasks } from './run-audio-tasks.js';
import type { Rng } from '../util/rng.js';
import { AUDIO_FILE, readClipSet, writeClipSet, type StoredClip } from './clip-store.js';
import { readSplitFile } from '../corpus/split-file.js';

/** One augmented copy per training clip, with the range its random value is drawn from. */
export type CopyRecipe =
  | { type: 'noise'; amount: number }
  | { type: 'pitch'; semitones: [number, number] }
  | { type: 'stretch'; rate: [number, number] }
  | { type: 'speed'; factor: [number, number] };

export interface AugmentParams {
  copies: CopyRecipe[];
}

const range = (description: string, min: number, max: number) => ({
  type: 'array',
  items: { type: 'number', minimum: min, maximum: max },
  minItems: 2,
  maxItems: 2,
  description,
});

export const augmentParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    copies: {
      type: 'array',
      description:
        'Extra copies made of every training clip (validation and test clips are never augmented). Each copy draws its value uniformly from its range, seeded per clip and copy.',
      items: {
        oneOf: [
          {
            type: 'object', additionalProperties: false, required: ['type', 'amount'],
            properties: { type: { const: 'noise' }, amount: { type: 'number', minimum: 0, maximum: 1, description: 'Noise amplitude is amount * U(0,1) * max|y| (Gaussian).' } },
          },
          {
            type: 'object', additionalProperties: false, required: ['type', 'semitones'],
            properties: { type: { const: 'pitch' }, semitones: range('Pitch shift in semitones [low, high] (librosa.effects.pitch_shift).', -12, 12) },
          },
          {
            type: 'object', additionalProperties: false, required: ['type', 'rate'],
            properties: { type: { const: 'stretch' }, rate: range('Time-stretch rate [low, high] (>1 faster, pitch kept; librosa.effects.time_stretch).', 0.25, 4) },
          },
          {
            type: 'object', additionalProperties: false, required: ['type', 'factor'],
            properties: { type: { const: 'speed' }, factor: range('Speed factor [low, high] (>1 faster and higher, by resampling).', 0.25, 4) },
          },
        ],
      },
      default: [
        { type: 'noise', amount: 0.035 },
        { type: 'pitch', semitones: [-2, 2] },
        { type: 'speed', factor: [0.9, 1.1] },
      ],
    },
  },
} as const;

/** The concrete transform for one copy: the recipe's range narrowed to one drawn value. */
export function drawSpec(recipe: CopyRecipe, rng: Rng): AugmentSpec {
  const pick = ([lo, hi]: [number, number]) => round6(rng.uniform(lo, hi));
  switch (recipe.type) {
    case 'noise': return { type: 'noise', amount: recipe.amount };
    case 'pitch': return { type: 'pitch', semitones: pick(recipe.semitones) };
    case 'stretch': return { type: 'stretch', rate: pick(recipe.rate) };
    case 'speed': return { type: 'speed', factor: pick(recipe.factor) };
  }
}

// Rounded so the value recorded in index.json is exactly the value applied.
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

async function run(ctx: StageContext<AugmentParams>): Promise<StageResult> {
  const inDir = ctx.input('resample').dir;
  const set = await readClipSet(inDir);
  const split = await readSplitFile(ctx.input('split').dir);
  const training = set.clips.filter((c) => c.augmentation === null && split.assignments[c.source] === 'train');

  const jobs: { clip: StoredClip; spec: AugmentSpec; seed: string; copy: number }[] = [];
  for (const clip of training) {
    ctx.params.copies.forEach((recipe, copy) => {
      // One generator per (clip, copy): the draw does not depend on order or on the other copies.
      const rng = ctx.rng.derive(`${clip.source}#${copy}`);
      jobs.push({ clip, spec: drawSpec(recipe, rng), seed: rng.derive('signal').seed, copy });
    });
  }

  const audioFile = join(inDir, AUDIO_FILE);
  const outcomes = await runAudioTasks(ctx, 'augmentTask', jobs.map((j) => ({ audioFile, offset: j.clip.offset, length: j.clip.length, sampleRate: set.sampleRate, spec: j.spec, seed: j.seed })), 'copies');

  const out: { clip: Omit<StoredClip, 'offset' | 'length'>; y: Float32Array }[] = [];
  const failed: { path: string; error: string }[] = [];
  outcomes.forEach((o, i) => {
    const j = jobs[i]!;
    if (!o.ok) {
      failed.push({ path: j.clip.source, error: `${j.spec.type}: ${o.error}` });
      return;
    }
    out.push({
      clip: { source: j.clip.source, label: j.clip.label, speaker: j.clip.speaker, augmentation: { ...j.spec, copy: j.copy, seed: j.seed } },
      y: o.value.y,
    });
  });
  if (failed.length > 0) throw new EmopipeError('E_STAGE_FAILED', `augmentation failed for ${failed.length} copies, first: ${failed[0]!.path}: ${failed[0]!.error}`);

  await writeClipSet(ctx.outDir, { sampleRate: set.sampleRate, labels: set.labels, synthetic: set.synthetic, failed }, out);
  return {
    metrics: { training_clips: training.length, copies: out.length },
    summary: `${out.length} augmented copies of ${training.length} training clips (${ctx.params.copies.map((c) => c.type).join(', ')})`,
  };
}

export const augmentKind: StageKind<AugmentParams> = {
  kind: 'augment',
  description: 'Make augmented copies (noise, pitch shift, time stretch, speed change) of the training clips only, after the split. Writes audio.f32 + clips.json.',
  paramsSchema: augmentParamsSchema as unknown as Record<string, unknown>,
  inputs: [
    { kind: 'resample', description: 'the clips' },
    { kind: 'split', description: 'which clips are training clips' },
  ],
  random: true,
  module: import.meta.url,
  run,
};
