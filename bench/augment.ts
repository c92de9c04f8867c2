/**
 * Augmentation throughput, the way the augment stage runs it: RAVDESS clips loaded at 22050 Hz,
 * then per clip one noise, one pitch shift (semitones uniform in [-2, 2]) and one speed change
 * (factor uniform in [0.9, 1.1]), each with freshly drawn parameters (a new resampling ratio per
 * copy). Run: `node dist/bench/augment.js [CLIPS]` (default 50). Prints CPU ms per copy by kind.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadAudio } from '../src/audio/frontend.js';
import { applyAugmentation, type AugmentSpec } from '../src/audio/augment.js';
import { Rng } from '../src/util/rng.js';
import { sharedDir } from '../src/util/paths.js';

const count = Number(process.argv[2] ?? 50);
const root = join(sharedDir(), 'data', 'ravdess');
const files: string[] = [];
for (const actor of readdirSync(root).sort()) {
  if (!actor.startsWith('Actor_')) continue;
  for (const f of readdirSync(join(root, actor)).sort()) if (f.endsWith('.wav')) files.push(join(root, actor, f));
}
const clips = files.slice(0, count).map((f) => loadAudio(f, 22050).y);
const rng = new Rng('bench-augment');
const kinds = ['noise', 'pitch', 'speed'] as const;
const draw = (kind: (typeof kinds)[number]): AugmentSpec =>
  kind === 'noise'
    ? { type: 'noise', amount: 0.035 }
    : kind === 'pitch'
      ? { type: 'pitch', semitones: rng.uniform(-2, 2) }
      : { type: 'speed', factor: rng.uniform(0.9, 1.1) };

// Warm-up (JIT) on a few clips, with parameters the timed run does not reuse.
for (const y of clips.slice(0, 3)) for (const k of kinds) applyAugmentation(y, 22050, draw(k), rng);

let audioS = 0;
const cpuMs: Record<string, number> = { noise: 0, pitch: 0, speed: 0 };
for (const y of clips) {
  audioS += y.length / 22050;
  for (const k of kinds) {
    const c0 = process.cpuUsage();
    applyAugmentation(y, 22050, draw(k), rng);
    const c = process.cpuUsage(c0);
    cpuMs[k]! += (c.user + c.system) / 1000;
  }
}
const total = cpuMs.noise! + cpuMs.pitch! + cpuMs.speed!;
const per = (k: string) => (cpuMs[k]! / clips.length).toFixed(1);
console.log(
  `clips=${clips.length} audio_s=${audioS.toFixed(1)} cpu_ms_per_copy noise=${per('noise')} pitch=${per('pitch')} ` +
    `speed=${per('speed')} mean=${(total / (3 * clips.length)).toFixed(1)} realtime_per_cpu_s=${((3 * audioS) / (total / 1000)).toFixed(0)}`,
);
