/**
 * The float32 pffft transforms against fft.js (float64), and the fft.js fallback used when
 * pffft-wasm cannot be loaded (forced with EMOPIPE_NO_PFFFT=1 in a child process).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelDiff } from './helpers/signal.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fftOfSize } from '../src/audio/fft.js';
import { complexFft32, fftConvolver32, realFft32 } from '../src/audio/pffft.js';
import { Rng } from '../src/util/rng.js';
import { readWav, downmixToMono } from '../src/audio/wav.js';
import { resample } from '../src/audio/resample.js';
import { mfccFrames } from '../src/audio/mfcc.js';
import { sharedDir } from '../src/util/paths.js';

function noise(n: number, seed: string): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
}

test('pffft plans only the sizes it supports; any other size gets no plan (callers use fft.js)', () => {
  for (const n of [32, 2048, 8192]) assert.equal(realFft32(n)?.size, n, `real ${n}`);
  for (const n of [16, 1000, 2047, 0]) assert.equal(realFft32(n), undefined, `real ${n}`);
  for (const n of [16, 512]) assert.equal(complexFft32(n)?.size, n, `complex ${n}`);
  for (const n of [8, 24]) assert.equal(complexFft32(n), undefined, `complex ${n}`);
});

test('real and complex float32 transforms match fft.js to float32 precision', () => {
  const n = 2048;
  const x = noise(n, 'real');
  const ref = new Float64Array(2 * n);
  fftOfSize(n).realTransform(ref, x);
  const r = realFft32(n)!;
  r.input.set(x);
  r.forward();
  // pffft's ordered real layout: [X0, X(n/2), re X1, im X1, ...].
  const got = new Float64Array(2 * (n / 2 + 1));
  got.set(r.output.subarray(2, n), 2);
  got[0] = r.output[0]!;
  got[n] = r.output[1]!;
  assert.ok(maxRelDiff(got, ref.subarray(0, n + 2)) < 1e-6, `real: ${maxRelDiff(got, ref.subarray(0, n + 2))}`);

  const z = noise(2 * n, 'complex');
  const cref = new Float64Array(2 * n);
  fftOfSize(n).transform(cref, z);
  const c = complexFft32(n)!;
  c.input.set(z);
  c.forward();
  assert.ok(maxRelDiff(c.output, cref) < 1e-6, `complex forward: ${maxRelDiff(c.output, cref)}`);
  c.input.set(c.output);
  c.backward();
  const back = Float64Array.from(c.output, (v) => v / n);
  assert.ok(maxRelDiff(back, z) < 1e-6, `complex round trip: ${maxRelDiff(back, z)}`);
  assert.equal(realFft32(1000), undefined, 'not a power of two');
});

test('FftConvolver32 computes the circular convolution with its filter', () => {
  const n = 256;
  const h = noise(37, 'taps');
  const x = noise(n - h.length + 1, 'block'); // short enough that the circular result is the linear one
  const conv = fftConvolver32(n, h)!;
  conv.input.fill(0);
  conv.input.set(x);
  conv.filter();
  const ref = new Float64Array(n);
  for (let i = 0; i < x.length; i++) for (let k = 0; k < h.length; k++) ref[i + k]! += x[i]! * h[k]!;
  assert.ok(maxRelDiff(conv.output, ref) < 1e-6, `convolution: ${maxRelDiff(conv.output, ref)}`);
  // A second block reuses the buffers: no state left from the first.
  conv.input.fill(0);
  conv.input[0] = 1;
  conv.filter();
  assert.ok(maxRelDiff(conv.output.subarray(0, h.length), h) < 1e-6);
  assert.ok(conv.output.subarray(h.length).every((v) => Math.abs(v) < 1e-6));
});

test('without pffft (EMOPIPE_NO_PFFFT=1) resample and MFCC fall back to fft.js and agree with the pffft path', () => {
  const wav = join(sharedDir(), 'fixtures', 'librosa', 'speech_48k.wav');
  const w = readWav(wav);
  const y = resample(downmixToMono(w.samples, w.channels), w.sampleRate, 22050);
  const m = mfccFrames(y);
  const dist = new URL('..', import.meta.url); // dist/ (the test runs compiled)
  const script = `
    const { readWav, downmixToMono } = await import(${JSON.stringify(pathToFileURL(join(dist.pathname, 'src/audio/wav.js')).href)});
    const { resample } = await import(${JSON.stringify(pathToFileURL(join(dist.pathname, 'src/audio/resample.js')).href)});
    const { mfccFrames } = await import(${JSON.stringify(pathToFileURL(join(dist.pathname, 'src/audio/mfcc.js')).href)});
    const { pffftAvailable } = await import(${JSON.stringify(pathToFileURL(join(dist.pathname, 'src/audio/pffft.js')).href)});
    const w = readWav(${JSON.stringify(wav)});
    const y = resample(downmixToMono(w.samples, w.channels), w.sampleRate, 22050);
    const m = mfccFrames(y);
    process.stdout.write(JSON.stringify({ pffftAvailable, y: Array.from(y), m: Array.from(m.data) }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, EMOPIPE_NO_PFFFT: '1' },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(child.status, 0, child.stderr);
  const other = JSON.parse(child.stdout) as { pffftAvailable: boolean; y: number[]; m: number[] };
  assert.equal(other.pffftAvailable, false);
  assert.equal(other.y.length, y.length);
  let err = 0;
  let sig = 0;
  for (let i = 0; i < y.length; i++) {
    err += (y[i]! - other.y[i]!) ** 2;
    sig += other.y[i]! ** 2;
  }
  const snr = 10 * Math.log10(sig / err);
  let mErr = 0;
  for (let i = 0; i < m.data.length; i++) mErr = Math.max(mErr, Math.abs(m.data[i]! - other.m[i]!));
  console.log(`pffft vs fft.js path: resampled SNR ${snr.toFixed(1)} dB, MFCC max |diff| ${mErr.toExponential(2)}`);
  assert.ok(snr > 120, `SNR ${snr}`);
  assert.ok(mErr < 1e-3, `MFCC ${mErr}`);
});
