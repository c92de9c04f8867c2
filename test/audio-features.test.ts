/**
 * The optional front-end steps (src/audio/features.ts, deltas.ts, trim.ts): deltas against an
 * independent least-squares fit and analytic signals, silence trimming against librosa's
 * definition on signals whose answer is known, per-utterance normalisation, log-mel features,
 * and the default path staying bit-identical to mfccFrames.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaFrames } from '../src/audio/deltas.js';
import { featureDims, utteranceFeatures } from '../src/audio/features.js';
import { logMelSpectrogram, mfccFrames } from '../src/audio/mfcc.js';
import { trimInterval, trimSilence } from '../src/audio/trim.js';
import { Rng } from '../src/util/rng.js';

const SR = 22050;

/** Solves the normal equations of a degree-p polynomial fit of ys at xs; returns coefficients a0..ap. */
function polyfit(xs: number[], ys: number[], p: number): number[] {
  const n = p + 1;
  const A = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  xs.forEach((x, i) => {
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) A[r]![c]! += x ** (r + c);
      A[r]![n]! += x ** r * ys[i]!;
    }
  });
  for (let c = 0; c < n; c++) {
    for (let r = c + 1; r < n; r++) {
      const f = A[r]![c]! / A[c]![c]!;
      for (let k = c; k <= n; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  const a = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = A[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= A[r]![k]! * a[k]!;
    a[r] = s / A[r]![r]!;
  }
  return a;
}

/**
 * scipy.signal.savgol_filter(x, width, polyorder=order, deriv=order, mode='interp') from its
 * definition: fit a polynomial to the window around t (or to the first/last `width` samples at
 * the edges) and take the order-th derivative at t.
 */
function savgolInterp(x: number[], width: number, order: 1 | 2): number[] {
  const half = (width - 1) / 2;
  return x.map((_, t) => {
    const lo = Math.min(Math.max(t - half, 0), x.length - width);
    const xs = Array.from({ length: width }, (_, k) => lo + k - t);
    const a = polyfit(xs, xs.map((dx) => x[t + dx]!), order);
    return order === 1 ? a[1]! : 2 * a[2]!;
  });
}

test('deltas: librosa.feature.delta (savgol, mode interp) for order 1 and 2, against an independent least-squares fit', () => {
  const rng = new Rng('deltas');
  const frames = 30;
  const dims = 3;
  const x = Array.from({ length: frames * dims }, () => rng.normal() * 5);
  for (const order of [1, 2] as const) {
    const d = deltaFrames(x, frames, dims, order, 9);
    for (let c = 0; c < dims; c++) {
      const series = Array.from({ length: frames }, (_, t) => x[t * dims + c]!);
      const ref = savgolInterp(series, 9, order);
      ref.forEach((v, t) => assert.ok(Math.abs(d[t * dims + c]! - v) < 1e-9, `order ${order} dim ${c} frame ${t}: ${d[t * dims + c]} vs ${v}`));
    }
  }
});

test('deltas of analytic series: a ramp has slope a and no curvature; t^2 has curvature 2', () => {
  const frames = 20;
  const ramp = Array.from({ length: frames }, (_, t) => 3 * t - 7);
  const square = Array.from({ length: frames }, (_, t) => t * t);
  for (const v of deltaFrames(ramp, frames, 1, 1)) assert.ok(Math.abs(v - 3) < 1e-12);
  for (const v of deltaFrames(ramp, frames, 1, 2)) assert.ok(Math.abs(v) < 1e-12);
  for (const v of deltaFrames(square, frames, 1, 2)) assert.ok(Math.abs(v - 2) < 1e-12);
  const d1 = deltaFrames(square, frames, 1, 1);
  for (let t = 4; t < frames - 4; t++) assert.ok(Math.abs(d1[t]! - 2 * t) < 1e-9, 'centred slope of t^2 is 2t');
  // mode='interp': the edge frames take the slope of the line fitted to the first/last 9 frames.
  for (let t = 0; t < 4; t++) {
    assert.ok(Math.abs(d1[t]! - 8) < 1e-9);
    assert.ok(Math.abs(d1[frames - 1 - t]! - 2 * (frames - 5)) < 1e-9);
  }
  // Shorter than the width: a narrower odd window (librosa would refuse); under 3 frames, zeros.
  assert.deepEqual(Array.from(deltaFrames([1, 2, 3, 4, 5], 5, 1, 1)), [1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(deltaFrames([1, 5], 2, 1, 1)), [0, 0]);
});

test('trim: librosa.effects.trim interval on silence | tone | silence, and noise floors either side of top_db', () => {
  const tone = (n: number, amp = 0.5) => Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * 440 * i) / SR));
  const y = Float32Array.from([...new Array(SR).fill(0), ...tone(SR), ...new Array(SR).fill(0)]);
  // Frame t covers samples [512 t - 1024, 512 t + 1024): the first to reach the tone (sample 22050)
  // is t = 42, the last to start before its end (44100) is t = 88; end = (88 + 1) * 512.
  assert.deepEqual(trimInterval(y), [42 * 512, 89 * 512]);
  assert.equal(trimSilence(y).length, 89 * 512 - 42 * 512);
  // A noise floor 70 dB down is silence; 50 dB down is not (top_db = 60).
  const rng = new Rng('floor');
  const withFloor = (db: number) => {
    const amp = 0.5 * 10 ** (db / 20);
    return Float32Array.from(y, (v, i) => (i < SR || i >= 2 * SR ? amp * Math.sin(i * 0.3 + rng.next()) : v));
  };
  assert.deepEqual(trimInterval(withFloor(-70)), [42 * 512, 89 * 512]);
  assert.deepEqual(trimInterval(withFloor(-50)), [0, y.length]);
  assert.deepEqual(trimInterval(withFloor(-50), { topDb: 40, frameLength: 2048, hopLength: 512 }), [42 * 512, 89 * 512]);
  // Digital silence everywhere is one level: nothing is below the peak, nothing is trimmed.
  assert.deepEqual(trimInterval(new Float32Array(5000)), [0, 5000]);
  assert.deepEqual(trimInterval(new Float32Array(0)), [0, 0]);
});

function speechLike(seconds: number, seed: string): Float32Array {
  const rng = new Rng(seed);
  const n = Math.round(seconds * SR);
  return Float32Array.from({ length: n }, (_, i) => {
    const env = Math.sin((Math.PI * i) / n) ** 2;
    return env * (0.3 * Math.sin((2 * Math.PI * 180 * i) / SR) + 0.1 * Math.sin((2 * Math.PI * 900 * i) / SR) + 0.02 * rng.normal());
  });
}

test('default options are exactly mfccFrames (the seed recipe, bit for bit)', () => {
  const y = speechLike(1.2, 'default');
  const ref = mfccFrames(y, { frames: 60 });
  for (const opts of [{}, { features: 'mfcc', deltas: 0, cmvn: 'none', trim: null }] as const) {
    const r = utteranceFeatures(y, { frames: 60 }, opts);
    assert.equal(r.dims, 40);
    assert.deepEqual(r.data, ref.data);
  }
});

test('deltas and cmvn: [static | delta | delta-delta] per frame from the unpadded clip, normalised over the kept frames', () => {
  const y = speechLike(1.0, 'layout');
  const whole = mfccFrames(y); // 44 frames
  const T = whole.frames;
  const frames = T + 10; // padded
  const r = utteranceFeatures(y, { frames }, { deltas: 2 });
  assert.equal(r.dims, 120);
  assert.equal(featureDims({}, { deltas: 2 }), 120);
  const d1 = deltaFrames(whole.data, T, 40, 1);
  const d2 = deltaFrames(whole.data, T, 40, 2);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < 40; c++) {
      assert.equal(r.data[t * 120 + c], whole.data[t * 40 + c]);
      assert.equal(r.data[t * 120 + 40 + c], Math.fround(d1[t * 40 + c]!));
      assert.equal(r.data[t * 120 + 80 + c], Math.fround(d2[t * 40 + c]!));
    }
  }
  for (let i = T * 120; i < frames * 120; i++) assert.equal(r.data[i], 0, 'padding stays zero');

  // cmvn over a truncated clip: every dimension of the kept frames has mean 0 and std 1.
  const keep = 30;
  const n = utteranceFeatures(y, { frames: keep }, { deltas: 1, cmvn: 'utterance' });
  assert.equal(n.dims, 80);
  for (let c = 0; c < 80; c++) {
    let s = 0, sq = 0;
    for (let t = 0; t < keep; t++) { s += n.data[t * 80 + c]!; sq += n.data[t * 80 + c]! ** 2; }
    assert.ok(Math.abs(s / keep) < 1e-5, `dim ${c} mean ${s / keep}`);
    assert.ok(Math.abs(sq / keep - 1) < 1e-4, `dim ${c} variance ${sq / keep}`);
  }
  // ... which is why cmvn makes the features level-independent: a 20 dB quieter copy gives the same.
  const quiet = Float32Array.from(y, (v) => v * 0.1);
  const q = utteranceFeatures(quiet, { frames: keep }, { deltas: 1, cmvn: 'utterance' });
  let worst = 0;
  for (let i = 0; i < q.data.length; i++) worst = Math.max(worst, Math.abs(q.data[i]! - n.data[i]!));
  assert.ok(worst < 1e-3, `level changes cmvn features by ${worst}`);
});

test('log-mel features are librosa power_to_db(melspectrogram) rows; trim cuts the silent edges first', () => {
  const y = speechLike(0.8, 'logmel');
  const lm = logMelSpectrogram(y, { nMels: 64 });
  const r = utteranceFeatures(y, { nMels: 64, nMfcc: 20, frames: 50 }, { features: 'logmel' });
  assert.equal(r.dims, 64);
  assert.equal(featureDims({ nMels: 64, nMfcc: 20 }, { features: 'logmel' }), 64);
  for (let i = 0; i < lm.frames * 64; i++) assert.equal(r.data[i], Math.fround(lm.data[i]!));
  for (let i = lm.frames * 64; i < 50 * 64; i++) assert.equal(r.data[i], 0);

  // Half a second of silence either side: trimmed, the features are those of the trimmed clip.
  const padded = new Float32Array(y.length + SR);
  padded.set(y, SR / 2);
  const trim = { topDb: 60, frameLength: 2048, hopLength: 512 };
  const [a, b] = trimInterval(padded, trim);
  assert.ok(a > 0 && b < padded.length, `trimmed to [${a}, ${b})`);
  const t = utteranceFeatures(padded, { frames: 50 }, { trim });
  assert.deepEqual(t.data, mfccFrames(padded.subarray(a, b), { frames: 50 }).data);
  assert.notDeepEqual(t.data, mfccFrames(padded, { frames: 50 }).data);
});
