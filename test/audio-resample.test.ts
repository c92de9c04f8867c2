/**
 * The soxr-HQ resampler against librosa.load(sr=22050) outputs (../shared/fixtures/librosa):
 * sample-by-sample SNR, output length, edge samples, and MFCCs of the resampled signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resample, resampledLength } from '../src/audio/resample.js';
import { HQ_PASSBAND_END } from '../src/audio/soxr-plan.js';
import { downmixToMono, readWav } from '../src/audio/wav.js';
import { mfccFrames } from '../src/audio/mfcc.js';
import { sharedDir } from '../src/util/paths.js';
import { readF32, snrDb, maxAbsDiff } from './helpers/signal.js';

const FIX = join(sharedDir(), 'fixtures', 'librosa');
const RAVDESS_FIX = join(FIX, 'ravdess');
const RAVDESS_DATA = join(sharedDir(), 'data', 'ravdess');

/** librosa.load(path, sr=22050) with our decoder and resampler. */
function load22050(path: string): { y: Float32Array; n: number; sr: number } {
  const wav = readWav(path);
  const mono = downmixToMono(wav.samples, wav.channels);
  return { y: resample(mono, wav.sampleRate, 22050), n: mono.length, sr: wav.sampleRate };
}

const FIXTURES = ['sine440_48k', 'chirp_48k', 'noise_48k', 'speech_48k', 'speech_stereo_44k1', 'speech_16k'];

test('HQ pass-band end is soxr 0.1.3 HQ value (1 - 0.05 / 3dB point of a 120 dB filter)', () => {
  assert.ok(Math.abs(HQ_PASSBAND_END - 0.91374) < 1e-5, String(HQ_PASSBAND_END));
});

test('resampled signals match librosa soxr_hq sample by sample, with its MFCCs', () => {
  const rows: string[] = [];
  for (const name of FIXTURES) {
    const { y, n, sr } = load22050(join(FIX, `${name}.wav`));
    const ref = readF32(join(FIX, `${name}.y22050.f32`));
    assert.equal(y.length, ref.length, `${name}: length`);
    assert.equal(y.length, Math.ceil((n * 22050) / sr), `${name}: ceil(n*out/in)`);
    const snr = snrDb(y, ref);
    // Edges: soxr pre-loads and flushes zeros; the first and last samples must agree too.
    const edge = Math.max(maxAbsDiff(y.subarray(0, 8), ref.subarray(0, 8)), maxAbsDiff(y.subarray(-8), ref.subarray(-8)));
    const m = mfccFrames(y);
    const mref = readF32(join(FIX, `${name}.mfcc.f32`));
    const mErr = maxAbsDiff(m.data, mref);
    rows.push(`${name.padEnd(20)} SNR ${snr.toFixed(1)} dB  edge max|diff| ${edge.toExponential(1)}  MFCC max|err| ${mErr.toExponential(2)}`);
    assert.ok(snr >= 60, `${name}: SNR ${snr.toFixed(1)} dB < 60`);
    assert.ok(edge < 1e-5, `${name}: edge samples differ by ${edge}`);
    assert.ok(mErr <= 0.05, `${name}: MFCC max abs error ${mErr}`);
  }
  console.log(rows.join('\n'));
});

test('output length is ceil(n * out / in) for assorted rates and lengths, including empty input', () => {
  for (const [inRate, outRate] of [
    [48000, 22050],
    [44100, 22050],
    [16000, 22050],
    [22050, 8000],
    [96000, 22050],
    [22050 * 1.1, 22050],
    [22050 / Math.pow(2, -2 / 12), 22050],
  ] as const) {
    for (const n of [0, 1, 7, 1000, 4801]) {
      const x = new Float32Array(n).map((_, i) => Math.sin(i * 0.05));
      const y = resample(x, inRate, outRate);
      assert.equal(y.length, resampledLength(n, inRate, outRate), `${inRate}->${outRate} n=${n}`);
      assert.equal(y.length, Math.ceil(n * (outRate / inRate)));
      assert.ok(y.every(Number.isFinite), `${inRate}->${outRate} n=${n}: non-finite output`);
    }
  }
});

test('a pass-band sine survives any ratio with its amplitude and phase (zero delay)', () => {
  // Rational and irrational ratios, down and up, including a 4x decimation (half-band stage).
  for (const [inRate, outRate] of [
    [22050, 22050 / Math.pow(2, 2 / 12)],
    [22050, 22050 / Math.pow(2, -2 / 12)],
    [96000, 22050],
    [8000, 22050],
    [22050, 16000],
  ] as const) {
    const f = 440;
    const n = Math.round(inRate * 0.5);
    const x = new Float64Array(n).map((_, i) => Math.sin((2 * Math.PI * f * i) / inRate));
    const y = resample(x, inRate, outRate);
    const expected = new Float64Array(y.length).map((_, k) => Math.sin((2 * Math.PI * f * k) / outRate));
    // Away from the edges, where the zero padding of the ends is felt.
    const from = Math.ceil(outRate * 0.05);
    const to = y.length - from;
    const snr = snrDb(y.subarray(from, to), expected.subarray(from, to));
    assert.ok(snr > 80, `${inRate}->${outRate}: SNR ${snr.toFixed(1)} dB`);
  }
});

test('same rate returns a copy; bad rates are rejected', () => {
  const x = new Float32Array([0.1, -0.2, 0.3]);
  const y = resample(x, 22050, 22050);
  assert.deepEqual(Array.from(y), Array.from(x));
  assert.notEqual(y, x);
  assert.throws(() => resample(x, 0, 22050), RangeError);
  assert.throws(() => resample(x, 22050, Number.NaN), RangeError);
});

test('RAVDESS clips: MFCC (174 frames) of our load matches librosa', (t) => {
  if (!existsSync(RAVDESS_DATA)) {
    t.skip(`RAVDESS data not found at ${RAVDESS_DATA}`);
    return;
  }
  const manifest = JSON.parse(readFileSync(join(RAVDESS_FIX, 'manifest.json'), 'utf8')) as {
    files: Record<string, { source: string; samples22050: number; mfcc174: { file: string } }>;
  };
  const rows: string[] = [];
  for (const [id, f] of Object.entries(manifest.files)) {
    const { y } = load22050(join(RAVDESS_DATA, f.source));
    assert.equal(y.length, f.samples22050, `${id}: samples at 22050 Hz`);
    const m = mfccFrames(y, { frames: 174 });
    const err = maxAbsDiff(m.data, readF32(join(RAVDESS_FIX, f.mfcc174.file)));
    rows.push(`${id} MFCC174 max|err| ${err.toExponential(2)}`);
    assert.ok(err <= 0.05, `${id}: MFCC max abs error ${err}`);
  }
  console.log(rows.join('\n'));
});

test('scratch reuse: a result does not depend on the calls before it (ratios, lengths, fixed length)', () => {
  const short = new Float32Array(5000).map((_, i) => Math.sin(i * 0.03) + 0.3 * Math.sin(i * 0.71));
  const long = new Float32Array(60000).map((_, i) => Math.cos(i * 0.011));
  const ratios: Array<[number, number]> = [
    [48000, 22050],
    [22050 * 1.07, 22050],
    [22050 / Math.pow(2, 1.3 / 12), 22050],
    [96000, 22050],
  ];
  const first = ratios.map(([a, b]) => resample(short, a, b));
  for (const [a, b] of ratios) resample(long, a, b); // grows and dirties every scratch buffer
  ratios.forEach(([a, b], i) => assert.deepEqual(resample(short, a, b), first[i], `${a}->${b}`));
  // fixedLength: librosa.util.fix_length of the plain result.
  const plain = resample(short, 48000, 22050);
  assert.deepEqual(resample(short, 48000, 22050, 1000), plain.subarray(0, 1000));
  const padded = resample(short, 48000, 22050, plain.length + 7);
  assert.deepEqual(padded.subarray(0, plain.length), plain);
  assert.ok(padded.subarray(plain.length).every((v) => v === 0));
});
