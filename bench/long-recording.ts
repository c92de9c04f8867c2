/**
 * A one-hour 48 kHz recording for `predict --segments`: RAVDESS clips (whole, with their own
 * pauses) joined with 0.3-2.5 s of silence, written a clip at a time, and a model of the reference
 * architecture (one epoch on 48 clips: its answers are not the point, its cost is).
 * Run: `node dist/bench/long-recording.js [OUT_DIR] [SECONDS]`, then time the command it prints.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ARCHITECTURE } from '../src/model/architecture.js';
import { encodeWav, readWavMono } from '../src/audio/wav.js';
import { Rng } from '../src/util/rng.js';
import { sharedDir } from '../src/util/paths.js';
import { trainTinyModel } from '../test/helpers/tiny-model.js';

const outDir = process.argv[2] ?? '/tmp/emopipe-long';
const seconds = Number(process.argv[3] ?? 3600);
const root = join(sharedDir(), 'data', 'ravdess');
const all = readdirSync(root).filter((d) => d.startsWith('Actor_')).flatMap((d) => readdirSync(join(root, d)).map((f) => join(root, d, f))).sort();
const rate = 48000;
const wav = join(outDir, `recording-${seconds}s.wav`);

// The header of a canonical 16-bit mono WAV, then the samples a clip at a time.
const frames = seconds * rate;
mkdirSync(outDir, { recursive: true });
const fd = openSync(wav, 'w');
const header = Buffer.alloc(44);
header.write('RIFF', 0); header.writeUInt32LE(36 + frames * 2, 4); header.write('WAVEfmt ', 8);
header.writeUInt32LE(16, 16); header.writeUInt16LE(1, 20); header.writeUInt16LE(1, 22); header.writeUInt32LE(rate, 24);
header.writeUInt32LE(rate * 2, 28); header.writeUInt16LE(2, 32); header.writeUInt16LE(16, 34); header.write('data', 36); header.writeUInt32LE(frames * 2, 40);
writeSync(fd, header, 0, 44, 0);
const rng = new Rng('long-recording');
let written = 0;
let speech = 0;
while (written < frames) {
  const gap = Math.min(frames - written, Math.round(rng.uniform(0.3, 2.5) * rate));
  writeSync(fd, Buffer.alloc(gap * 2), 0, gap * 2, 44 + written * 2);
  written += gap;
  const clip = readWavMono(all[rng.int(all.length)]!).mono;
  const n = Math.min(frames - written, clip.length);
  const pcm = encodeWav(clip.subarray(0, n), { sampleRate: rate }).subarray(44);
  writeSync(fd, pcm, 0, n * 2, 44 + written * 2);
  written += n;
  speech += n;
}
closeSync(fd);
console.log(`wrote ${wav}: ${seconds} s, ${(speech / rate).toFixed(0)} s of clips`);

const modelDir = join(outDir, 'model');
if (!existsSync(join(modelDir, 'model.onnx'))) {
  const names: Record<string, string> = { '03': 'happy', '04': 'sad', '05': 'angry' };
  const clips = all.filter((f) => /Actor_0[12]/.test(f) && names[f.split('/').pop()!.split('-')[2]!])
    .map((f) => ({ path: f, label: names[f.split('/').pop()!.split('-')[2]!]! }));
  await trainTinyModel(outDir, clips, 1, DEFAULT_ARCHITECTURE);
}
console.log(`/usr/bin/time -v node bin/emopipe.js predict --model ${modelDir} ${wav} --segments --json > ${join(outDir, 'segments.json')}`);
