import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import type { AugmentSpec } from '../audio/augment.js';
import { EmopipeError } from '../util/errors.js';
import { runAudioTasks } from './run-audio-tasks.js';
import type { Rng } from '../util/rng.js';
import { AUDIO_FILE, readClipSet, writeClipSet, type StoredClip } from './clip-store.js';
import { readSplitFile } from '../corpus/split-file.js';
import { Params, Type, type Static } from './params.js';

/** [low, high]: the range a copy's random value is drawn from. */
const range = (description: string, min: number, max: number) =>
  Type.Unsafe<[number, number]>({
    type: 'array',
    items: { type: 'number', minimum: min, maximum: max },
    minItems: 2,
    maxItems: 2,
    description,
  });

const recipes = [
  Type.Object({ type: Type.Literal('noise'), amount: Type.Number({ minimum: 0, maximum: 1, description: 'Noise amplitude is amount * U(0,1) * max|y| (Gaussian).' }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('pitch'), semitones: range('Pitch shift in semitones [low, high] (librosa.effects.pitch_shift).', -12, 12) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('stretch'), rate: range('Time-stretch rate [low, high] (>1 faster, pitch kept; librosa.effects.time_stretch).', 0.25, 4) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('speed'), factor: range('Speed factor [low, high] (>1 faster and higher, by resampling).', 0.25, 4) }, { additionalProperties: false }),
] as const;

/** One augmented copy per training clip, with the range its random value is drawn from. */
export type CopyRecipe = Static<(typeof recipes)[number]>;

export const augmentParamsSchema = Params({
  copies: Type.Array(
    // oneOf (not TypeBox's anyOf): a copy matches exactly one recipe, and ajv's errors say which.
    Type.Unsafe<CopyRecipe>({ oneOf: recipes }),
    {
      description:
        'Extra copies made of every training clip (validation and test clips are never augmented). Each copy draws its value uniformly from its range, seeded per clip and copy.',
      default: [
        { type: 'noise', amount: 0.035 },
        { type: 'pitch', semitones: [-2, 2] },
        { type: 'speed', factor: [0.9, 1.1] },
      ],
    },
  ),
});

export type AugmentParams = Static<typeof augmentParamsSchema>;

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
  // A copy that came out non-finite (extreme input values) is reported and left out, like a
  // corrupt clip; any other failure is a bug and fails the stage.
  const leftOut: { path: string; error: string }[] = [];
  outcomes.forEach((o, i) => {
    const j = jobs[i]!;
    if (!o.ok) {
      const entry = { path: j.clip.source, error: `${j.spec.type} copy ${j.copy}: ${o.error}` };
      if (o.code === 'E_AUDIO_NON_FINITE') {
        leftOut.push(entry);
        ctx.log.warn(`left out ${entry.path}, ${entry.error}`);
      } else failed.push(entry);
      return;
    }
    out.push({
      clip: { source: j.clip.source, label: j.clip.label, speaker: j.clip.speaker, augmentation: { ...j.spec, copy: j.copy, seed: j.seed } },
      y: o.value.y,
    });
  });
  if (failed.length > 0) throw new EmopipeError('E_STAGE_FAILED', `augmentation failed for ${failed.length} copies, first: ${failed[0]!.path}: ${failed[0]!.error}`);

  await writeClipSet(ctx.outDir, { sampleRate: set.sampleRate, labels: set.labels, synthetic: set.synthetic, failed: leftOut }, out);
  return {
    metrics: { training_clips: training.length, copies: out.length, ...(leftOut.length ? { left_out: leftOut.length } : {}) },
    summary: `${out.length} augmented copies of ${training.length} training clips (${ctx.params.copies.map((c) => c.type).join(', ')})`,
  };
}

export const augmentKind: StageKind<AugmentParams> = {
  kind: 'augment',
  description: 'Make augmented copies (noise, pitch shift, time stretch, speed change) of the training clips only, after the split. Writes audio.f32 + clips.json.',
  paramsSchema: augmentParamsSchema,
  inputs: [
    { kind: 'resample', description: 'the clips' },
    { kind: 'split', description: 'which clips are training clips' },
  ],
  random: true,
  module: import.meta.url,
  run,
};
