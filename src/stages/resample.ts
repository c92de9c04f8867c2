import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { readManifest, resolveManifestPath } from '../corpus/manifest.js';
import { EmopipeError } from '../util/errors.js';
import { runAudioTasks } from './run-audio-tasks.js';
import { writeClipSet } from './clip-store.js';
import type { LoadTask } from './audio-tasks.js';
import { Params, Type, type Static } from './params.js';

export const resampleParamsSchema = Params({
  rate: Type.Integer({
    minimum: 1000,
    maximum: 384000,
    default: 22050,
    description: 'Output sample rate in Hz. Every clip is mixed to mono (mean of channels) and resampled with a linear-phase filter matching librosa\'s default soxr_hq.',
  }),
  strict: Type.Boolean({
    default: false,
    description: 'Fail the stage on the first clip that cannot be decoded (default: report it in clips.json and go on).',
  }),
});

export type ResampleParams = Static<typeof resampleParamsSchema>;

async function run(ctx: StageContext<ResampleParams>): Promise<StageResult> {
  const ingestDir = ctx.input('ingest').dir;
  const manifest = await readManifest(ingestDir);
  const rows = manifest.rows;
  const tasks: LoadTask[] = rows.map((r) => ({ file: resolveManifestPath(ingestDir, manifest, r), rate: ctx.params.rate }));

  const outcomes = await runAudioTasks(ctx, 'loadTask', tasks, 'files');

  const failed: { path: string; error: string }[] = [];
  const kept: { clip: { source: string; label: string; speaker: string; augmentation: null }; y: Float32Array }[] = [];
  let mixedDown = 0;
  let audioSeconds = 0;
  outcomes.forEach((o, i) => {
    const row = rows[i]!;
    if (!o.ok) {
      if (ctx.params.strict) throw new EmopipeError('E_STAGE_FAILED', o.error, { file: tasks[i]!.file });
      failed.push({ path: row.path, error: o.error });
      ctx.log.warn(`skipped ${tasks[i]!.file}: ${o.error}`);
      return;
    }
    if (o.value.channels > 1) mixedDown++;
    audioSeconds += o.value.y.length / ctx.params.rate;
    kept.push({ clip: { source: row.path, label: row.label, speaker: row.speaker, augmentation: null }, y: o.value.y });
  });
  if (kept.length === 0) throw new EmopipeError('E_STAGE_FAILED', `no clip could be decoded (${failed.length} failed)`);

  await writeClipSet(ctx.outDir, { sampleRate: ctx.params.rate, labels: manifest.labels, synthetic: manifest.synthetic, failed, notes: { mixedDown } }, kept);
  return {
    metrics: { clips: kept.length, failed: failed.length, mixed_down: mixedDown, audio_s: Math.round(audioSeconds * 10) / 10 },
    summary: `${kept.length} clips at ${ctx.params.rate} Hz (${mixedDown} mixed down to mono, ${failed.length} failed)`,
  };
}

export const resampleKind: StageKind<ResampleParams> = {
  kind: 'resample',
  description: 'Decode every clip of the manifest, mix to mono and resample to one rate (librosa.load semantics). Writes audio.f32 + clips.json.',
  paramsSchema: resampleParamsSchema,
  inputs: [{ kind: 'ingest', description: 'manifest.json' }],
  module: import.meta.url,
  run,
};
