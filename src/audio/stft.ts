/**
 * librosa's STFT, phase vocoder and inverse STFT, as librosa.effects.time_stretch uses them:
 * n_fft 2048, hop 512, periodic Hann window, centred frames with zero padding.
 * librosa keeps the spectrogram in complex64 and the phase accumulator in float32; we round at
 * the same points (Math.fround) so that our output follows librosa's, not an idealised version.
 */
import { fftOfSize } from './fft.js';

export interface Spectrogram {
  /** Interleaved (re, im) per bin, frame-major: frame t, bin k at 2 * (t * bins + k). */
  data: Float64Array;
  frames: number;
  bins: number;
  nFft: number;
  hop: number;
}

/** Periodic Hann window (scipy.signal.get_window('hann', n, fftbins=True)). */
export function hannPeriodic(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** librosa.stft(y, n_fft, hop_length, center=True, pad_mode='constant'), values rounded to complex64. */
export function stft(y: ArrayLike<number>, nFft = 2048, hop = nFft / 4): Spectrogram {
  const half = nFft >> 1;
  const frames = 1 + Math.floor(y.length / hop);
  const bins = half + 1;
  const win = hannPeriodic(nFft);
  const fft = fftOfSize(nFft);
  const frame = new Float64Array(nFft);
  const spec = new Float64Array(2 * nFft);
  const data = new Float64Array(2 * frames * bins);
  for (let t = 0; t < frames; t++) {
    const start = t * hop - half; // centred: the signal is padded with n_fft/2 zeros each side
    for (let i = 0; i < nFft; i++) {
      const j = start + i;
      frame[i] = j >= 0 && j < y.length ? win[i]! * y[j]! : 0;
    }
    fft.realTransform(spec, frame);
    const o = 2 * t * bins;
    for (let k = 0; k < 2 * bins; k++) data[o + k] = Math.fround(spec[k]!);
  }
  return { data, frames, bins, nFft, hop };
}

/** numpy's round-half-to-even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** librosa.phase_vocoder(D, rate): time-scale the spectrogram by 1/rate, keeping phase advance per bin. */
export function phaseVocoder(D: Spectrogram, rate: number): Spectrogram {
  const { bins, frames, hop, nFft } = D;
  // np.arange(0, frames, rate): ceil(frames / rate) steps, step i at i * rate.
  const nSteps = Math.ceil(frames / rate);
  const out = new Float64Array(2 * nSteps * bins);
  // Magnitudes and phases (float32, like np.abs / np.angle of complex64), once per frame, with
  // the two zero columns librosa pads at the end.
  const mag = new Float64Array((frames + 2) * bins);
  const ang = new Float64Array((frames + 2) * bins);
  for (let j = 0; j < frames * bins; j++) {
    const re = D.data[2 * j]!;
    const im = D.data[2 * j + 1]!;
    mag[j] = Math.fround(Math.sqrt(re * re + im * im));
    ang[j] = Math.fround(Math.atan2(im, re));
  }
  const phiAdvance = new Float64Array(bins);
  for (let k = 0; k < bins; k++) phiAdvance[k] = hop * ((Math.PI * 2 * k) / nFft);
  const phaseAcc = ang.slice(0, bins);
  const TWO_PI = 2 * Math.PI;
  for (let i = 0; i < nSteps; i++) {
    const step = i * rate;
    const t0 = Math.floor(step);
    const alpha = step - t0;
    const c0 = t0 * bins;
    const c1 = c0 + bins;
    for (let k = 0; k < bins; k++) {
      const m = (1 - alpha) * mag[c0 + k]! + alpha * mag[c1 + k]!;
      const ph = phaseAcc[k]!;
      const o = 2 * (i * bins + k);
      out[o] = Math.fround(m * Math.fround(Math.cos(ph)));
      out[o + 1] = Math.fround(m * Math.fround(Math.sin(ph)));
      let dphase = ang[c1 + k]! - ang[c0 + k]! - phiAdvance[k]!;
      dphase -= TWO_PI * roundHalfEven(dphase / TWO_PI);
      phaseAcc[k] = Math.fround(ph + (phiAdvance[k]! + dphase));
    }
  }
  return { data: out, frames: nSteps, bins, nFft, hop };
}

/**
 * librosa.istft(D, length=length) for a centred STFT: windowed inverse FFTs overlap-added,
 * divided by the summed squared window, trimmed by n_fft/2 at the start, fixed to `length`.
 */
export function istft(D: Spectrogram, length: number): Float32Array {
  const { nFft, hop, bins } = D;
  const half = nFft >> 1;
  const nFrames = Math.min(D.frames, Math.ceil((length + 2 * half) / hop));
  const total = nFft + hop * (nFrames - 1);
  const win = hannPeriodic(nFft);
  const fft = fftOfSize(nFft);
  const y = new Float64Array(total);
  const wss = new Float64Array(total);
  const spec = new Float64Array(2 * nFft);
  const frame = new Float64Array(2 * nFft);
  for (let t = 0; t < nFrames; t++) {
    const o = 2 * t * bins;
    // Hermitian spectrum -> real frame (numpy's irfft ignores the imaginary parts of DC and Nyquist).
    spec[0] = D.data[o]!;
    spec[1] = 0;
    for (let k = 1; k < half; k++) {
      const re = D.data[o + 2 * k]!;
      const im = D.data[o + 2 * k + 1]!;
      spec[2 * k] = re;
      spec[2 * k + 1] = im;
      spec[2 * (nFft - k)] = re;
      spec[2 * (nFft - k) + 1] = -im;
    }
    spec[2 * half] = D.data[o + 2 * half]!;
    spec[2 * half + 1] = 0;
    fft.inverseTransform(frame, spec);
    const start = t * hop;
    for (let i = 0; i < nFft; i++) {
      y[start + i]! += win[i]! * frame[2 * i]!;
      wss[start + i]! += win[i]! * win[i]!;
    }
  }
  const tiny = 1.1754943508222875e-38; // np.finfo(float32).tiny
  const out = new Float32Array(length);
  const n = Math.min(length, total - half);
  for (let i = 0; i < n; i++) {
    const w = wss[i + half]!;
    out[i] = w > tiny ? y[i + half]! / w : y[i + half]!;
  }
  return out;
}
