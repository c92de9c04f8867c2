import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { encodeWav } from '../audio/wav.js';
import { Rng } from '../util/rng.js';
import { EmopipeError } from '../util/errors.js';
import { runPool } from '../util/pool.js';
import type { ProgressReporter } from '../util/log.js';
import { makeSpeakers, profileFor, synthesizeClip, type SynthSpeaker } from './synth.js';

export interface SynthCorpusOptions {
  classes: string[];
  clipsPerClass: number;
  speakers: number;
  durationS: number;
  sampleRate: number;
  seed: number;
  /** Spread of clips around their class profile (see ClipOptions.variation). */
  variation?: number;
}

export interface SynthClip {
  /** `<speaker>/<label>_<n>.wav`, relative to the corpus directory. */
  path: string;
  label: string;
  speaker: SynthSpeaker;
}

/** The clips a corpus will contain, in a fixed order (speaker, class, index). */
export function planSynthCorpus(o: SynthCorpusOptions): SynthClip[] {
  const speakers = makeSpeakers(o.speakers, new Rng(`synth:${o.seed}`));
  const clips: SynthClip[] = [];
  for (const speaker of speakers) {
    for (const label of o.classes) {
      for (let k = 0; k < o.clipsPerClass; k++) {
        clips.push({ path: `${speaker.id}/${label}_${String(k + 1).padStart(2, '0')}.wav`, label, speaker });
      }
    }
  }
  return clips;
}

/** One clip to generate (plain data: it crosses into a worker thread). */
export interface SynthTask {
  dir: string;
  clip: SynthClip;
  sampleRate: number;
  durationS: number;
  seed: number;
  variation: number;
}

/**
 * Generate one clip and write it as 16-bit WAV. Its generator is derived from (seed, path), so
 * the bytes do not depend on which thread makes it or in what order.
 */
export async function synthTask(t: SynthTask): Promise<void> {
  const rng = new Rng(`synth:${t.seed}`).derive('clip/' + t.clip.path);
  const samples = synthesizeClip(profileFor(t.clip.label), t.clip.speaker, { sampleRate: t.sampleRate, durationS: t.durationS, variation: t.variation }, rng);
  const file = join(t.dir, t.clip.path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, encodeWav(samples, { sampleRate: t.sampleRate }));
}

/** Write the whole corpus under `dir`, spread over `jobs` worker threads. */
export async function writeSynthCorpus(dir: string, o: SynthCorpusOptions, opts: { jobs?: number; progress?: ProgressReporter; signal?: AbortSignal } = {}): Promise<SynthClip[]> {
  const clips = planSynthCorpus(o);
  opts.progress?.start(clips.length, 'clips', 'synthesising demo corpus');
  const outcomes = await runPool<SynthTask, void>({
    module: new URL('./synth-corpus.js', import.meta.url),
    fn: 'synthTask',
    tasks: clips.map((clip) => ({ dir, clip, sampleRate: o.sampleRate, durationS: o.durationS, seed: o.seed, variation: o.variation ?? 1 })),
    jobs: opts.jobs ?? 1,
    signal: opts.signal,
    onResult: () => opts.progress?.tick(1),
  });
  opts.progress?.done();
  const failed = outcomes.findIndex((r) => !r.ok);
  if (failed >= 0) {
    const r = outcomes[failed] as { error: string };
    throw new EmopipeError('E_STAGE_FAILED', `could not write synthetic clip ${clips[failed]!.path}: ${r.error}`);
  }
  return clips;
}
