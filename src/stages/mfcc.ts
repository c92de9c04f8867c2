import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { featureOptionsOf, mfccOptionsOf, type FrontendConfig } from '../audio/frontend.js';
import { featureDims } from '../audio/features.js';
import { averageSpeaker, groupStats, normaliseGroups } from '../audio/group-norm.js';
import { isOriginal, writeFeatureSet, type FeatureIndexRow } from '../corpus/features-set.js';
import { EmopipeError } from '../util/errors.js';
import { Enum, Nullable, Params, Type, type Static } from './params.js';
import { runAudioTasks } from './run-audio-tasks.js';
import { AUDIO_FILE, readClipSet, type ClipSet, type StoredClip } from './clip-store.js';
import { readSplitFile, type SplitName } from '../corpus/split-file.js';

// The owners of frontend.json (audio/frontend.ts) and of the features set (corpus/features-set.ts);
// re-exported for callers of this module.
export { featureOptionsOf, mfccOptionsOf, type FrontendConfig } from '../audio/frontend.js';
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
  features: Enum(['mfcc', 'logmel'], { default: 'mfcc', description: '`mfcc` (n_mfcc per frame) or `logmel`: the log-mel spectrogram in dB the MFCCs are made from (n_mels per frame).' }),
  deltas: Enum([0, 1, 2], { default: 0, description: '1 appends deltas, 2 deltas and delta-deltas (librosa.feature.delta, width 9, mode interp), computed on the clip\'s own frames before padding.' }),
  cmvn: Enum(['none', 'utterance', 'speaker'], { default: 'none', description: '`utterance`: mean/variance normalisation of every feature over the clip\'s frames (before padding); `speaker`: over all frames of the speaker\'s original clips (each augmented copy of a speaker\'s clips is its own group), and at predict time over the files given together (one file alone: the average training speaker\'s statistics, recorded in the model\'s front end). The model\'s own normaliser still applies after it.' }),
  trim: Type.Boolean({ default: false, description: 'Trim leading and trailing silence first (librosa.effects.trim semantics).' }),
  trim_top_db: Type.Number({ minimum: 0, default: 60, description: 'trim: frames this many dB below the loudest frame\'s RMS are silence.' }),
  trim_frame_length: Type.Integer({ minimum: 1, maximum: 65536, default: 2048, description: 'trim: RMS window in samples.' }),
  trim_hop_length: Type.Integer({ minimum: 1, maximum: 65536, default: 512, description: 'trim: hop between RMS frames in samples.' }),
});

export type MfccParams = Static<typeof mfccParamsSchema>;

export function frontendOf(p: MfccParams, sampleRate: number): FrontendConfig {
  const f: FrontendConfig = { sampleRate, nMfcc: p.n_mfcc, nFft: p.n_fft, hopLength: p.hop_length, nMels: p.n_mels, fmin: p.fmin, fmax: p.fmax, topDb: p.top_db, frames: p.frames };
  if (p.features && p.features !== 'mfcc') f.features = p.features;
  if (p.deltas) f.deltas = p.deltas;
  if (p.cmvn && p.cmvn !== 'none') f.cmvn = p.cmvn;
  if (p.trim) f.trim = { topDb: p.trim_top_db ?? 60, frameLength: p.trim_frame_length ?? 2048, hopLength: p.trim_hop_length ?? 512 };
  return f;
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
  const featureOptions = featureOptionsOf(frontend);
  const dims = featureDims(options, featureOptions);

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

  const outcomes = await runAudioTasks(ctx, 'mfccTask', work.map((w) => ({ audioFile: w.audioFile, offset: w.clip.offset, length: w.clip.length, options, features: featureOptions })), 'clips');

  const labels = originals.labels;
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const rowSize = frontend.frames * dims;
  const ok = outcomes.flatMap((o, i) => (o.ok ? [{ w: work[i]!, data: o.value.data, valid: o.value.valid }] : []));
  // Features that came out non-finite (extreme sample values) are reported and left out; any
  // other failure is a bug and fails the stage.
  const leftOut = outcomes.flatMap((o, i) => {
    if (o.ok || o.code !== 'E_AUDIO_NON_FINITE') return [];
    const w = work[i]!;
    const what = w.clip.augmentation ? ` (augmented copy ${JSON.stringify(w.clip.augmentation)})` : '';
    ctx.log.warn(`left out ${w.clip.source}${what}: ${o.error}`);
    return [{ source: w.clip.source, augmentation: w.clip.augmentation, error: o.error }];
  });
  const failures = outcomes.flatMap((o, i) => (o.ok || o.code === 'E_AUDIO_NON_FINITE' ? [] : [`${work[i]!.clip.source}: ${o.error}`]));
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

  if (frontend.cmvn === 'speaker') {
    const rows = { data: features, frames: frontend.frames, dims, valid: ok.map((o) => o.valid) };
    // A clip predicted alone is normalised by the average training speaker: in the README's CV that
    // scores far better than the clip's own statistics (the ablation's lone-clip rows).
    const training = groupStats(rows, index.map((r) => (r.split === 'train' && isOriginal(r) ? r.speaker : null)));
    if (training.size > 0) frontend.speakerStats = averageSpeaker([...training.values()]);
    normaliseGroups(rows, index.map(speakerGroup));
  }

  const counts = await writeFeatureSet(ctx.outDir, {
    features, frames: frontend.frames, coefficients: dims, labelIds, index, labels, synthetic: originals.synthetic, frontend,
    ...(leftOut.length ? { leftOut } : {}),
  });
  return {
    metrics: { rows: ok.length, ...counts, ...(leftOut.length ? { left_out: leftOut.length } : {}) },
    summary: `features.npy [${ok.length}, ${frontend.frames}, ${dims}] (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')})`,
  };
}

/**
 * cmvn speaker: a speaker's original clips share statistics (whatever their split: no labels are
 * used); each augmented copy of a speaker's clips is a group of its own, as a new recording of
 * that voice would be normalised by its own statistics.
 */
export function speakerGroup(row: Pick<FeatureIndexRow, 'speaker' | 'augmentation'>): string {
  const copy = row.augmentation ? `#copy${String((row.augmentation as { copy?: unknown }).copy ?? JSON.stringify(row.augmentation))}` : '';
  return `${row.speaker}${copy}`;
}

export const mfccKind: StageKind<MfccParams> = {
  kind: 'mfcc',
  description: 'MFCCs exactly as librosa.feature.mfcc, padded/truncated to a fixed frame count, for the original clips (all splits) and the augmented training copies. Writes features.npy [N, frames, n_mfcc], labels.npy, index.json, labels.json, meta.json. Options (off by default): silence trim, log-mel instead of MFCCs, deltas, per-utterance or per-speaker normalisation; the last axis is then the resulting feature width, and predict applies the same front end.',
  paramsSchema: mfccParamsSchema,
  inputs: [
    { kind: 'resample', description: 'the original clips' },
    { kind: 'split', description: 'split of every original clip' },
    { kind: 'augment', optional: true, description: 'augmented training copies' },
  ],
  module: import.meta.url,
  run,
};
