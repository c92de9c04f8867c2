/**
 * Resampler throughput: a 3.7 s 48 kHz clip (the speech fixture, cut) to 22050 Hz, as
 * librosa.load(sr=22050) does for RAVDESS. Run: `node dist/bench/resample.js [REPS]`.
 * Prints per-call CPU time (mean over REPS after warm-up) and the fastest wall time.
 */
import { join } from 'node:path';
import { resample } from '../src/audio/resample.js';
import { downmixToMono, readWav } from '../src/audio/wav.js';
import { sharedDir } from '../src/util/paths.js';

const reps = Number(process.argv[2] ?? 50);
const wav = readWav(join(sharedDir(), 'fixtures', 'librosa', 'speech_48k.wav'));
const clip = downmixToMono(wav.samples, wav.channels).subarray(0, Math.round(3.7 * wav.sampleRate));
const seconds = clip.length / wav.sampleRate;

for (let i = 0; i < 5; i++) resample(clip, wav.sampleRate, 22050); // warm-up: JIT and the memoised filters

let fastest = Infinity;
const cpu0 = process.cpuUsage();
for (let i = 0; i < reps; i++) {
  const t = performance.now();
  resample(clip, wav.sampleRate, 22050);
  fastest = Math.min(fastest, performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
const cpuPerCall = (cpu.user + cpu.system) / 1e6 / reps;

console.log(
  `clip=${seconds.toFixed(2)}s@${wav.sampleRate}Hz reps=${reps} ` +
    `cpu_ms_per_call=${(cpuPerCall * 1000).toFixed(2)} fastest_wall_ms=${fastest.toFixed(2)} ` +
    `samples_per_cpu_s=${Math.round(clip.length / cpuPerCall)} realtime_per_cpu_s=${(seconds / cpuPerCall).toFixed(0)}`,
);
