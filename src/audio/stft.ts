/**
 * librosa's STFT, phase vocoder and inverse STFT, as librosa.effects.time_stretch uses them:
 * n_fft 2048, hop 512, periodic Hann window, centred frames with zero padding.
 * librosa keeps the spectrogram in complex64 and the phase accumulator in float32; we round at
 * the same points (Math.fround, or a Float32Array store) so that our output follows librosa's,
 * not an idealised version. `timeStretchSignal` runs the three fused, frame by frame, without
 * the full spectrograms in memory; `stft`, `phaseVocoder` and `istft` share its kernels.
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

const windows = new Map<number, Float64Array>();
function hannCached(n: number): Float64Array {
  let w = windows.get(n);
  if (!w) windows.set(n, (w = hannPeriodic(n)));
  return w;
}

/**
 * buf[2i + part] = win[i] * y[start + i], zero outside y (centred frames run past both ends):
 * one frame into the real (part 0) or imaginary (part 1) lane of a complex buffer.
 */
function windowedLane(y: ArrayLike<number>, start: number, win: Float64Array, buf: Float64Array, part: number): void {
  const n = win.length;
  const from = Math.max(0, -start);
  const to = Math.max(from, Math.min(n, y.length - start));
  for (let i = 0; i < from; i++) buf[2 * i + part] = 0;
  for (let i = from; i < to; i++) buf[2 * i + part] = win[i]! * y[start + i]!;
  for (let i = to; i < n; i++) buf[2 * i + part] = 0;
}

/**
 * Centred STFT frames t and t+1 (when t+1 < frames) with one complex transform: frame t in the
 * real lane, t+1 in the imaginary lane; then, from Z = A + iB, A[k] = (Z[k] + conj Z[N-k]) / 2
 * and B[k] = (Z[k] - conj Z[N-k]) / 2i, rounded to complex64, bins 0..N/2 into a and b.
 */
function analysePair(
  y: ArrayLike<number>,
  t: number,
  frames: number,
  hop: number,
  win: Float64Array,
  buf: Float64Array,
  spec: Float64Array,
  a: Float64Array,
  b: Float64Array,
): void {
  const nFft = win.length;
  const half = nFft >> 1;
  windowedLane(y, t * hop - half, win, buf, 0);
  if (t + 1 < frames) windowedLane(y, (t + 1) * hop - half, win, buf, 1);
  else for (let i = 1; i < 2 * nFft; i += 2) buf[i] = 0;
  fftOfSize(nFft).transform(spec, buf);
  for (let k = 0; k <= half; k++) {
    const m = k === 0 ? 0 : 2 * (nFft - k);
    const zr = spec[2 * k]!;
    const zi = spec[2 * k + 1]!;
    const mr = spec[m]!;
    const mi = spec[m + 1]!;
    a[2 * k] = Math.fround(0.5 * (zr + mr));
    a[2 * k + 1] = Math.fround(0.5 * (zi - mi));
    b[2 * k] = Math.fround(0.5 * (zi + mi));
    b[2 * k + 1] = Math.fround(0.5 * (mr - zr));
  }
}

/** librosa.stft(y, n_fft, hop_length, center=True, pad_mode='constant'), values rounded to complex64. */
export function stft(y: ArrayLike<number>, nFft = 2048, hop = nFft / 4): Spectrogram {
  const half = nFft >> 1;
  const frames = 1 + Math.floor(y.length / hop);
  const bins = half + 1;
  const win = hannCached(nFft);
  const buf = new Float64Array(2 * nFft);
  const spec = new Float64Array(2 * nFft);
  const data = new Float64Array(2 * (frames + 1) * bins); // + 1: room for the odd frame's partner
  for (let t = 0; t < frames; t += 2) {
    const o = 2 * t * bins;
    analysePair(y, t, frames, hop, win, buf, spec, data.subarray(o, o + 2 * bins), data.subarray(o + 2 * bins, o + 4 * bins));
  }
  return { data: data.subarray(0, 2 * frames * bins), frames, bins, nFft, hop };
}

/** numpy's round-half-to-even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** State of librosa's phase vocoder: input magnitudes and phases (float32) and the phase accumulator. */
interface Vocoder {
  /** (frames + 2) * bins: librosa pads two zero columns at the end. */
  mag: Float32Array;
  ang: Float32Array;
  phaseAcc: Float32Array;
  phiAdvance: Float64Array;
  bins: number;
  rate: number;
  sc: Float32Array;
}

function newVocoder(mag: Float32Array, ang: Float32Array, bins: number, hop: number, nFft: number, rate: number): Vocoder {
  const phiAdvance = new Float64Array(bins);
  for (let k = 0; k < bins; k++) phiAdvance[k] = hop * ((Math.PI * 2 * k) / nFft);
  return { mag, ang, phaseAcc: ang.slice(0, bins), phiAdvance, bins, rate, sc: new Float32Array(2) };
}

/** Output column i (steps must come in order: the phase accumulates) into out[o .. o + 2*bins). */
function vocoderStep(v: Vocoder, i: number, out: Float64Array, o: number): void {
  const { mag, ang, phaseAcc, phiAdvance, bins, sc } = v;
  const step = i * v.rate;
  const t0 = Math.floor(step);
  const alpha = step - t0;
  const c0 = t0 * bins;
  const c1 = c0 + bins;
  for (let k = 0; k < bins; k++, o += 2) {
    const m = (1 - alpha) * mag[c0 + k]! + alpha * mag[c1 + k]!;
    const ph = phaseAcc[k]!;
    sinCos32(ph, sc);
    out[o] = Math.fround(m * sc[0]!);
    out[o + 1] = Math.fround(m * sc[1]!);
    let dphase = ang[c1 + k]! - ang[c0 + k]! - phiAdvance[k]!;
    dphase -= TWO_PI * roundHalfEven(dphase * INV_TWO_PI);
    phaseAcc[k] = ph + (phiAdvance[k]! + dphase);
  }
}

/** np.abs and np.angle of complex64 values (re, im), rounded to float32 by the stores. */
function polarInto(re: number, im: number, mag: Float32Array, ang: Float32Array, j: number): void {
  mag[j] = Math.sqrt(re * re + im * im);
  ang[j] = atan2(im, re);
}

/** librosa.phase_vocoder(D, rate): time-scale the spectrogram by 1/rate, keeping phase advance per bin. */
export function phaseVocoder(D: Spectrogram, rate: number): Spectrogram {
  const { bins, frames, hop, nFft } = D;
  // np.arange(0, frames, rate): ceil(frames / rate) steps, step i at i * rate.
  const nSteps = Math.ceil(frames / rate);
  const out = new Float64Array(2 * nSteps * bins);
  const mag = new Float32Array((frames + 2) * bins);
  const ang = new Float32Array((frames + 2) * bins);
  const d = D.data;
  for (let j = 0; j < frames * bins; j++) polarInto(d[2 * j]!, d[2 * j + 1]!, mag, ang, j);
  const v = newVocoder(mag, ang, bins, hop, nFft, rate);
  for (let i = 0; i < nSteps; i++) vocoderStep(v, i, out, 2 * i * bins);
  return { data: out, frames: nSteps, bins, nFft, hop };
}

/**
 * Packs two real frames' half-spectra a (at d[oa..]) and b (at d[ob..], or none when ob < 0)
 * into one full complex spectrum A + iB, whose inverse transform is a + ib. Each half-spectrum
 * is Hermitian-extended; numpy's irfft ignores the imaginary parts of DC and Nyquist.
 */
function packPair(d: Float64Array, oa: number, ob: number, nFft: number, spec: Float64Array): void {
  const half = nFft >> 1;
  const hasB = ob >= 0;
  spec[0] = d[oa]!;
  spec[1] = hasB ? d[ob]! : 0;
  for (let k = 1; k < half; k++) {
    const ar = d[oa + 2 * k]!;
    const ai = d[oa + 2 * k + 1]!;
    const br = hasB ? d[ob + 2 * k]! : 0;
    const bi = hasB ? d[ob + 2 * k + 1]! : 0;
    spec[2 * k] = ar - bi;
    spec[2 * k + 1] = ai + br;
    spec[2 * (nFft - k)] = ar + bi;
    spec[2 * (nFft - k) + 1] = br - ai;
  }
  spec[2 * half] = d[oa + 2 * half]!;
  spec[2 * half + 1] = hasB ? d[ob + 2 * half]! : 0;
}

/** Overlap-adds the windowed frames t (real part of `frame`) and t+1 (imaginary part) when `both`. */
function overlapAddPair(frame: Float64Array, t: number, both: boolean, hop: number, win: Float64Array, y: Float64Array, wss: Float64Array): void {
  const n = win.length;
  for (let part = 0; part < (both ? 2 : 1); part++) {
    const start = (t + part) * hop;
    for (let i = 0; i < n; i++) {
      y[start + i]! += win[i]! * frame[2 * i + part]!;
      wss[start + i]! += win[i]! * win[i]!;
    }
  }
}

/**
 * The overlap-added signal divided by the summed squared window, trimmed by n_fft/2, fixed to
 * `length`, into `out` (fresh when not given).
 */
function normalise(y: Float64Array, wss: Float64Array, half: number, length: number, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(length);
  const tiny = 1.1754943508222875e-38; // np.finfo(float32).tiny
  const n = Math.min(length, y.length - half);
  out.fill(0, Math.max(n, 0), length);
  for (let i = 0; i < n; i++) {
    const w = wss[i + half]!;
    out[i] = w > tiny ? y[i + half]! / w : y[i + half]!;
  }
  return out;
}

/**
 * librosa.istft(D, length=length) for a centred STFT: windowed inverse FFTs overlap-added,
 * divided by the summed squared window, trimmed by n_fft/2 at the start, fixed to `length`.
 * Two frames share each complex inverse transform.
 */
export function istft(D: Spectrogram, length: number): Float32Array {
  const { nFft, hop, bins } = D;
  const half = nFft >> 1;
  const nFrames = Math.min(D.frames, Math.ceil((length + 2 * half) / hop));
  const total = nFft + hop * (nFrames - 1);
  const win = hannCached(nFft);
  const fft = fftOfSize(nFft);
  const y = new Float64Array(total);
  const wss = new Float64Array(total);
  const spec = new Float64Array(2 * nFft);
  const frame = new Float64Array(2 * nFft);
  for (let t = 0; t < nFrames; t += 2) {
    const both = t + 1 < nFrames;
    packPair(D.data, 2 * t * bins, both ? 2 * (t + 1) * bins : -1, nFft, spec);
    fft.inverseTransform(frame, spec);
    overlapAddPair(frame, t, both, hop, win, y, wss);
  }
  return normalise(y, wss, half, length);
}

/**
 * Grow-only scratch for the fused path, one set per thread (workers have their own module
 * state): fresh large typed arrays cost page faults on first touch at every call.
 */
let polarScratch = new Float32Array(0);
let olaScratch = new Float64Array(0);
let frameScratch = new Float64Array(0);

/**
 * istft(phaseVocoder(stft(y), rate), length), fused: the analysis keeps only magnitudes and
 * phases (what the vocoder reads), and each pair of output columns goes straight into one
 * inverse transform, so no spectrogram is ever materialised. Same roundings as the three.
 */
export function timeStretchSignal(
  y: ArrayLike<number>,
  rate: number,
  length: number,
  opts: { nFft?: number; hop?: number; out?: Float32Array } = {},
): Float32Array {
  const nFft = opts.nFft ?? 2048;
  const hop = opts.hop ?? nFft / 4;
  const half = nFft >> 1;
  const bins = half + 1;
  const frames = 1 + Math.floor(y.length / hop);
  const nSteps = Math.ceil(frames / rate);
  const nOut = Math.min(nSteps, Math.ceil((length + 2 * half) / hop));
  const win = hannCached(nFft);
  const fft = fftOfSize(nFft);

  const cells = (frames + 2) * bins;
  if (polarScratch.length < 2 * cells) polarScratch = new Float32Array(2 * cells);
  const mag = polarScratch.subarray(0, cells);
  const ang = polarScratch.subarray(cells, 2 * cells);
  mag.fill(0, frames * bins);
  ang.fill(0, frames * bins);
  if (frameScratch.length < 4 * nFft + 4 * bins) frameScratch = new Float64Array(4 * nFft + 4 * bins);
  const frame = frameScratch.subarray(0, 2 * nFft);
  const spec = frameScratch.subarray(2 * nFft, 4 * nFft);
  const cols = frameScratch.subarray(4 * nFft, 4 * nFft + 4 * bins); // two columns
  const colA = cols.subarray(0, 2 * bins);
  const colB = cols.subarray(2 * bins);
  for (let t = 0; t < frames; t += 2) {
    analysePair(y, t, frames, hop, win, frame, spec, colA, colB);
    for (let part = 0; part < 2 && t + part < frames; part++) {
      const c = part === 0 ? colA : colB;
      for (let k = 0, j = (t + part) * bins; k < bins; k++, j++) polarInto(c[2 * k]!, c[2 * k + 1]!, mag, ang, j);
    }
  }

  const v = newVocoder(mag, ang, bins, hop, nFft, rate);
  const total = nFft + hop * (nOut - 1);
  if (olaScratch.length < 2 * total) olaScratch = new Float64Array(2 * total);
  const out = olaScratch.subarray(0, total).fill(0);
  const wss = olaScratch.subarray(total, 2 * total).fill(0);
  for (let i = 0; i < nOut; i += 2) {
    const both = i + 1 < nOut;
    vocoderStep(v, i, cols, 0);
    if (both) vocoderStep(v, i + 1, cols, 2 * bins);
    packPair(cols, 0, both ? 2 * bins : -1, nFft, spec);
    fft.inverseTransform(frame, spec);
    overlapAddPair(frame, i, both, hop, win, out, wss);
  }
  return normalise(out, wss, half, length, opts.out);
}

const TWO_PI = 2 * Math.PI;
const INV_TWO_PI = 1 / TWO_PI;
// pi/2 in two parts (fdlibm's pio2_1, pio2_1t): q * PIO2_HI is exact for |q| < 2^20.
const PIO2_HI = 1.5707963267341256;
const PIO2_LO = 6.077100506506192e-11;

/**
 * cos(x) and sin(x) into out[0], out[1] (a Float32Array: rounded as Math.fround(Math.cos(x))
 * would be, to within one float32 ulp in rare ties). fdlibm's kernels after a Cody-Waite
 * reduction, about 4x cheaper than Math.cos plus Math.sin; accurate to ~1e-16 for |x| < 1e6,
 * far beyond the phase vocoder's accumulated phases (< 1e6 rad for clips of a few minutes).
 */
function sinCos32(x: number, out: Float32Array): void {
  const q = Math.round(x * (2 / Math.PI));
  const r = x - q * PIO2_HI - q * PIO2_LO;
  const z = r * r;
  const s = r + z * r * (-1.66666666666666324348e-1 + z * (8.33333333332248946124e-3 + z * (-1.98412698298579493134e-4 + z * (2.75573137070700676789e-6 + z * (-2.50507602534068634195e-8 + z * 1.58969099521155010221e-10)))));
  const hz = 0.5 * z;
  const w = 1 - hz;
  const c = w + ((1 - w - hz) + z * z * (4.16666666666666019037e-2 + z * (-1.38888888888741095749e-3 + z * (2.48015872894767294178e-5 + z * (-2.75573143513906633035e-7 + z * (2.08757232129817482790e-9 + z * -1.13596475577881948265e-11))))));
  switch (q & 3) {
    case 0:
      out[0] = c;
      out[1] = s;
      break;
    case 1:
      out[0] = -s;
      out[1] = c;
      break;
    case 2:
      out[0] = -c;
      out[1] = -s;
      break;
    default:
      out[0] = s;
      out[1] = -c;
  }
}


// fdlibm's atan: breakpoints atan(0.5), atan(1), atan(1.5), atan(inf) in two parts, and the
// odd polynomial on |x| < 7/16.
const ATAN_HI = [4.63647609000806093515e-1, 7.85398163397448278999e-1, 9.82793723247329054082e-1, 1.5707963267948965580];
const ATAN_LO = [2.26987774529616870924e-17, 3.06161699786838301793e-17, 1.39033110312309984516e-17, 6.12323399573676603587e-17];

/** atan(a) for a in [0, 1] (fdlibm's reduction and polynomial). */
function atanUnit(a: number): number {
  let id = -1;
  if (a >= 0.4375) {
    if (a < 0.6875) {
      id = 0;
      a = (2 * a - 1) / (2 + a);
    } else {
      id = 1;
      a = (a - 1) / (a + 1);
    }
  }
  const z = a * a;
  const w = z * z;
  const s1 = z * (3.33333333333329318027e-1 + w * (1.42857142725034663711e-1 + w * (9.09088713343650656196e-2 + w * (6.66107313738753120669e-2 + w * (4.97687799461593236017e-2 + w * 1.62858201153657823623e-2)))));
  const s2 = w * (-1.99999999998764832476e-1 + w * (-1.11111104054623557880e-1 + w * (-7.69187620504482999495e-2 + w * (-5.83357013379057348645e-2 + w * -3.65315727442169155270e-2))));
  if (id < 0) return a - a * (s1 + s2);
  return ATAN_HI[id]! - (a * (s1 + s2) - ATAN_LO[id]! - a);
}

/**
 * Math.atan2 to within an ulp or two (its float32 rounding is then almost always the same),
 * about 3x cheaper: the analysis computes one per bin and frame.
 */
export function atan2(y: number, x: number): number {
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  // Zeros, infinities and NaN: the library's own rules (signed zeros matter there).
  if (!(ax > 0 && ay > 0 && ax < Infinity && ay < Infinity)) return Math.atan2(y, x);
  let t = ay > ax ? Math.PI / 2 - atanUnit(ax / ay) : atanUnit(ay / ax);
  if (x < 0) t = Math.PI - t;
  return y < 0 ? -t : t;
}
