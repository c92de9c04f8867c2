import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAudio } from '../src/audio/frontend.js';
import { melFilterbank, sparseMelFilterbank } from '../src/audio/mel.js';
import { frameCount, logMelSpectrogram, mfccFrames } from '../src/audio/mfcc.js';
import { sharedDir } from '../src/util/paths.js';
import { readF32, maxAbsDiff } from './helpers/signal.js';

const lib = join(sharedDir(), 'fixtures', 'librosa');
const manifest = JSON.parse(readFileSync(join(lib, 'manifest.json'), 'utf8')) as {
  fixtures: Record<string, { y22050: { file: string; shape: number[] }; mfcc: { file: string; shape: number[] }; mfcc174: { file: string } }>;
};

test('mel filterbank matches librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128)', () => {
  const ref = readF32(join(lib, 'mel_fb_sr22050_nfft2048_nmels128.f32'));
  const fb = melFilterbank({ sampleRate: 22050, nFft: 2048, nMels: 128, fmin: 0, fmax: 11025 });
  let maxRel = 0;
  let peak = 0;
  for (let i = 0; i < ref.length; i++) {
    peak = Math.max(peak, ref[i]);
    if (ref[i] === 0) assert.equal(fb[i], 0, `bin ${i} should be zero`);
    else maxRel = Math.max(maxRel, Math.abs(fb[i] - ref[i]) / ref[i]);
  }
  const abs = maxAbsDiff(fb, ref);
  console.log(`mel filterbank: max abs error ${abs.toExponential(2)}, max rel ${maxRel.toExponential(2)} (peak weight ${peak.toExponential(3)})`);
  assert.ok(maxRel < 2e-6, `relative error ${maxRel} beyond float32 rounding`);

  // The sparse form holds exactly the nonzero weights.
  const sp = sparseMelFilterbank({ sampleRate: 22050, nFft: 2048, nMels: 128, fmin: 0, fmax: 11025 });
  const nnz = ref.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
  assert.equal(sp.weights.length, nnz);
  for (let m = 0; m < 128; m++) {
    for (let j = 0; j < sp.length[m]; j++) assert.equal(sp.weights[sp.offset[m] + j], fb[m * 1025 + sp.start[m] + j]);
  }
});

test('MFCC fed the reference 22050 Hz signal matches librosa within 1e-3 on every fixture', () => {
  const names = Object.keys(manifest.fixtures);
  assert.equal(names.length, 6);
  for (const name of names) {
    const f = manifest.fixtures[name];
    const y = readF32(join(lib, f.y22050.file));
    const ref = readF32(join(lib, f.mfcc.file));
    const ref174 = readF32(join(lib, f.mfcc174.file));
    const full = mfccFrames(y);
    assert.equal(full.frames, f.mfcc.shape[0], `${name}: frames`);
    assert.equal(full.frames, frameCount(y.length));
    assert.equal(full.nMfcc, 40);
    const err = maxAbsDiff(full.data, ref);
    const padded = mfccFrames(y, { frames: 174 });
    assert.equal(padded.frames, 174);
    const err174 = maxAbsDiff(padded.data, ref174);
    console.log(`${name}: MFCC max abs error ${err.toExponential(2)} (${full.frames} frames), mfcc174 ${err174.toExponential(2)}`);
    assert.ok(err <= 1e-3, `${name}: MFCC max abs error ${err}`);
    assert.ok(err174 <= 1e-3, `${name}: mfcc174 max abs error ${err174}`);
    // Padding is zero rows after the last real frame; truncation keeps the first frames.
    const keep = Math.min(174, full.frames);
    assert.deepEqual(padded.data.subarray(0, keep * 40), full.data.subarray(0, keep * 40));
    assert.ok(padded.data.subarray(keep * 40).every((v) => v === 0));
  }
});

test('log-mel spectrogram matches librosa.power_to_db (speech_48k, top_db 80)', () => {
  const y = readF32(join(lib, 'speech_48k.y22050.f32'));
  const ref = readF32(join(lib, 'speech_48k.logmel.f32'));
  const lm = logMelSpectrogram(y);
  assert.equal(lm.frames, 196);
  assert.equal(lm.nMels, 128);
  const err = maxAbsDiff(lm.data, ref);
  console.log(`speech_48k log-mel: max abs error ${err.toExponential(2)} dB`);
  assert.ok(err <= 1e-3, `log-mel max abs error ${err}`);
  // top_db is applied over the whole clip: nothing more than 80 dB below the loudest bin.
  let max = -Infinity, min = Infinity;
  for (const v of lm.data) { max = Math.max(max, v); min = Math.min(min, v); }
  assert.ok(max - min <= 80 + 1e-9);
});

test('top-dB clipping sees the whole clip even when frames are truncated', () => {
  // Loud second half: truncating to the quiet first frames must not change its clipping floor.
  const y = new Float32Array(22050);
  for (let i = 0; i < y.length; i++) y[i] = (i < 11025 ? 1e-4 : 0.5) * Math.sin(i * 0.2) + (i % 7 === 0 ? 1e-6 : 0);
  const full = mfccFrames(y);
  const cut = mfccFrames(y, { frames: 5 });
  assert.deepEqual(cut.data, full.data.subarray(0, 5 * 40));
});

test('configurable parameters: n_mfcc, n_fft, hop, n_mels, fmin, fmax', () => {
  const y = readF32(join(lib, 'sine440_48k.y22050.f32'));
  const r = mfccFrames(y, { nMfcc: 13, nFft: 1024, hopLength: 256, nMels: 40, fmin: 20, fmax: 8000, frames: 100 });
  assert.equal(r.nMfcc, 13);
  assert.equal(r.frames, 100);
  assert.equal(r.data.length, 1300);
  assert.equal(frameCount(y.length, 256), 87);
  assert.ok(r.data.subarray(86 * 13, 87 * 13).some((v) => v !== 0));
  assert.ok(r.data.subarray(87 * 13).every((v) => v === 0));
  // A different configuration gives different numbers (plans are memoised per configuration).
  const d = mfccFrames(y, { nMfcc: 13, nFft: 1024, hopLength: 256, nMels: 40, frames: 100 });
  assert.notDeepEqual(d.data, r.data);
  assert.throws(() => mfccFrames(y, { nFft: 1000 }), /power of two/);
  assert.throws(() => mfccFrames(y, { nMfcc: 50, nMels: 40 }), /cannot exceed/);
});

test('the folded DCT equals DCT-II ortho from its definition (odd and even mel counts)', () => {
  const y = readF32(join(lib, 'chirp_48k.y22050.f32'));
  for (const nMels of [13, 40]) {
    const opts = { nMels, nMfcc: 13, nFft: 512, hopLength: 256 };
    const lm = logMelSpectrogram(y, opts);
    const m = mfccFrames(y, opts);
    let err = 0;
    for (let t = 0; t < lm.frames; t++) {
      for (let k = 0; k < 13; k++) {
        let acc = 0;
        for (let j = 0; j < nMels; j++) acc += lm.data[t * nMels + j] * Math.cos((Math.PI * k * (2 * j + 1)) / (2 * nMels));
        acc *= Math.sqrt((k === 0 ? 1 : 2) / nMels);
        err = Math.max(err, Math.abs(acc - m.data[t * 13 + k]));
      }
    }
    assert.ok(err < 1e-4, `nMels=${nMels}: ${err}`);
  }
});

test('RAVDESS clips: decode + resample + MFCC within 0.05 of librosa', async (t) => {
  const corpus = join(sharedDir(), 'data', 'ravdess');
  if (!existsSync(corpus)) {
    t.skip(`RAVDESS sample not found at ${corpus}`);
    return;
  }
  const refDir = join(lib, 'ravdess');
  const refs = (JSON.parse(readFileSync(join(refDir, 'manifest.json'), 'utf8')) as {
    files: Record<string, { source: string; samples22050: number; frames: number; mfcc174: { file: string } }>;
  }).files;
  assert.equal(Object.keys(refs).length, 6);
  for (const [id, ref] of Object.entries(refs)) {
    const audio = loadAudio(join(corpus, ref.source), 22050);
    assert.equal(audio.y.length, ref.samples22050, `${id}: resampled length`);
    const m = mfccFrames(audio.y, { frames: 174 });
    assert.equal(frameCount(audio.y.length), ref.frames);
    const err = maxAbsDiff(m.data, readF32(join(refDir, ref.mfcc174.file)));
    console.log(`RAVDESS ${id} (${audio.channels} ch): mfcc174 max abs error ${err.toExponential(2)}`);
    assert.ok(err <= 0.05, `${id}: max abs error ${err}`);
  }
});
