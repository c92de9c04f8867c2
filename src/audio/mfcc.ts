/**
 * MFCCs exactly as librosa.feature.mfcc(y=y, sr=sr, n_mfcc=...) with librosa's defaults:
 * periodic Hann window, centred frames with zero padding, power spectrum, Slaney mel filterbank,
 * power_to_db(ref=1, amin=1e-10, top_db=80) over the whole clip, DCT-II with norm='ortho'.
 * Computed in float64 (librosa works in float32), returned as float32, frames x coefficients.
 */
import { fftOfSize, type FftJs } from './fft.js';
import { sparseMelFilterbank, type SparseMelFilterbank } from './mel.js';
import { realFft32, type Fft32 } from './pffft.js';

export interface MfccOptions {
  /** Sample rate of `y` (default 22050). */
  sampleRate?: number;
  /** Coefficients per frame (default 40). */
  nMfcc?: number;
  /** FFT and window length, a power of two (default 2048). */
  nFft?: number;
  /** Hop between frames in samples (default 512). */
  hopLength?: number;
  /** Mel bands (default 128). */
  nMels?: number;
  /** Lowest mel edge in Hz (default 0). */
  fmin?: number;
  /** Highest mel edge in Hz (default sampleRate / 2). */
  fmax?: number;
  /** Dynamic range kept below the clip's loudest bin in dB; null keeps everything (default 80). */
  topDb?: number | null;
  /**
   * Frames to return: zero rows appended at the end, or frames dropped from the end. Default: all
   * 1 + floor(len(y) / hopLength) frames. Top-dB clipping always sees the whole clip.
   */
  frames?: number;
}

export type ResolvedMfccOptions = Required<Omit<MfccOptions, 'frames' | 'topDb'>> & { topDb: number | null; frames?: number };

export interface MfccResult {
  /** frames x nMfcc, row-major. */
  data: Float32Array;
  frames: number;
  nMfcc: number;
}

export interface LogMelResult {
  /** frames x nMels, row-major, in dB (after top-dB clipping). */
  data: Float64Array;
  frames: number;
  nMels: number;
}

const AMIN = 1e-10;

export function resolveMfccOptions(o: MfccOptions = {}): ResolvedMfccOptions {
  const sampleRate = o.sampleRate ?? 22050;
  const r: ResolvedMfccOptions = {
    sampleRate,
    nMfcc: o.nMfcc ?? 40,
    nFft: o.nFft ?? 2048,
    hopLength: o.hopLength ?? 512,
    nMels: o.nMels ?? 128,
    fmin: o.fmin ?? 0,
    fmax: o.fmax ?? sampleRate / 2,
    topDb: o.topDb === undefined ? 80 : o.topDb,
  };
  if (o.frames !== undefined) r.frames = o.frames;
  const positiveInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`mfcc: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('sampleRate', r.sampleRate);
  positiveInt('nMfcc', r.nMfcc);
  positiveInt('nFft', r.nFft);
  positiveInt('hopLength', r.hopLength);
  positiveInt('nMels', r.nMels);
  if (r.nFft < 4 || (r.nFft & (r.nFft - 1)) !== 0) throw new RangeError(`mfcc: nFft must be a power of two >= 4, got ${r.nFft}`);
  if (r.nMfcc > r.nMels) throw new RangeError(`mfcc: nMfcc (${r.nMfcc}) cannot exceed nMels (${r.nMels})`);
  if (!(r.fmin >= 0 && r.fmax > r.fmin && r.fmax <= r.sampleRate / 2)) {
    throw new RangeError(`mfcc: need 0 <= fmin < fmax <= sampleRate/2, got fmin=${r.fmin} fmax=${r.fmax}`);
  }
  if (r.topDb !== null && !(r.topDb >= 0)) throw new RangeError(`mfcc: topDb must be >= 0 or null, got ${r.topDb}`);
  if (r.frames !== undefined && (!Number.isInteger(r.frames) || r.frames < 0)) {
    throw new RangeError(`mfcc: frames must be a non-negative integer, got ${r.frames}`);
  }
  return r;
}

/** Everything that depends only on the configuration, built once per configuration and thread. */
interface Plan {
  nFft: number;
  hop: number;
  nMels: number;
  nMfcc: number;
  window: Float64Array;
  /** Complex FFT of nFft/2 points: a real frame of nFft samples is transformed as nFft/2 complex ones. */
  halfFft: FftJs;
  /**
   * pffft's float32 real FFT of nFft points when it loaded (librosa's own STFT is float32; the
   * MFCCs stay within ~1e-4 of the float64 path), else undefined and halfFft is used.
   */
  fft32: Fft32 | undefined;
  /** cos and sin of 2*pi*k/nFft for k = 0..nFft/2, to split the half-size transform into the real one. */
  twCos: Float64Array;
  twSin: Float64Array;
  mel: SparseMelFilterbank;
  /** DCT-II (ortho) folded by symmetry: row k over the nMels/2 sums (k even) or differences (k odd). */
  dctFolded: Float64Array;
  frame: Float64Array;
  spectrum: Float64Array;
  power: Float64Array;
  folded: Float64Array;
  /** Reusable log-mel buffer for mfccFrames. */
  scratch: Float64Array;
}

const plans = new Map<string, Plan>();

function planFor(r: ResolvedMfccOptions): Plan {
  const key = [r.sampleRate, r.nFft, r.hopLength, r.nMels, r.nMfcc, r.fmin, r.fmax].join(',');
  let p = plans.get(key);
  if (p) return p;
  const n = r.nFft;
  const window = new Float64Array(n);
  // Periodic Hann (scipy.signal.get_window('hann', n, fftbins=True)).
  for (let i = 0; i < n; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  const dctFolded = foldedDct(r.nMfcc, r.nMels);
  const twCos = new Float64Array(n / 2 + 1);
  const twSin = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) {
    twCos[k] = Math.cos((2 * Math.PI * k) / n);
    twSin[k] = Math.sin((2 * Math.PI * k) / n);
  }
  p = {
    nFft: n,
    hop: r.hopLength,
    nMels: r.nMels,
    nMfcc: r.nMfcc,
    window,
    halfFft: fftOfSize(n / 2),
    fft32: realFft32(n),
    twCos,
    twSin,
    mel: sparseMelFilterbank({ sampleRate: r.sampleRate, nFft: n, nMels: r.nMels, fmin: r.fmin, fmax: r.fmax }),
    dctFolded,
    frame: new Float64Array(n),
    spectrum: new Float64Array(n),
    power: new Float64Array(n / 2 + 1),
    folded: new Float64Array(2 * Math.ceil(r.nMels / 2)),
    scratch: new Float64Array(0),
  };
  plans.set(key, p);
  return p;
}

/**
 * Orthonormal DCT-II rows, using cos(pi*k*(2(N-1-m)+1)/2N) = (-1)^k cos(pi*k*(2m+1)/2N): even rows
 * act on x[m] + x[N-1-m], odd rows on x[m] - x[N-1-m], half the multiplications of the full matrix.
 * Row k holds ceil(N/2) weights; for odd N the middle element appears once, in the sums.
 */
function foldedDct(nMfcc: number, nMels: number): Float64Array {
  const half = Math.ceil(nMels / 2);
  const out = new Float64Array(nMfcc * half);
  for (let k = 0; k < nMfcc; k++) {
    const scale = k === 0 ? Math.sqrt(1 / nMels) : Math.sqrt(2 / nMels);
    for (let m = 0; m < half; m++) out[k * half + m] = scale * Math.cos((Math.PI * k * (2 * m + 1)) / (2 * nMels));
  }
  return out;
}

/** Number of centred STFT frames librosa produces for `samples` samples. */
export function frameCount(samples: number, hopLength = 512): number {
  return 1 + Math.floor(samples / hopLength);
}

/*
 * The per-frame steps are small functions of their own: V8 optimises and inlines them after a few
 * calls, where one long function would only be compiled on-stack mid-loop and deoptimised again
 * at every exit (measured: about 1.5x slower).
 */

/** Copies the centred frame starting at sample s0 into p.frame, windowed, zero outside the signal. */
function windowFrame(y: ArrayLike<number>, s0: number, p: Plan): void {
  const { nFft, window } = p;
  const frame = p.fft32 ? p.fft32.input : p.frame;
  if (s0 >= 0 && s0 + nFft <= y.length) {
    for (let i = 0; i < nFft; i++) frame[i] = y[s0 + i] * window[i];
  } else {
    for (let i = 0; i < nFft; i++) {
      const j = s0 + i;
      frame[i] = j >= 0 && j < y.length ? y[j] * window[i] : 0;
    }
  }
}

/**
 * |X[k]|^2 for k = 0..nFft/2 of the real frame, from a complex FFT of nFft/2 points (even samples
 * as real parts, odd as imaginary): X[k] = E[k] + W^k O[k], where E and O come from Z[k] and
 * conj(Z[nFft/2 - k]). About 1.6x faster than fft.js's realTransform at 2048 points.
 */
function powerSpectrum(p: Plan): void {
  if (p.fft32) return powerSpectrum32(p, p.fft32);
  const { nFft, halfFft, twCos, twSin, frame, spectrum, power } = p;
  const half = nFft >> 1;
  halfFft.transform(spectrum, frame);
  for (let k = 0; k <= half; k++) {
    const a = k === half ? 0 : 2 * k;
    const b = k === 0 ? 0 : nFft - 2 * k;
    const zr = spectrum[a], zi = spectrum[a + 1], wr = spectrum[b], wi = spectrum[b + 1];
    const er = zr + wr, ei = zi - wi; // 2 E[k]
    const or = zi + wi, oi = wr - zr; // 2 O[k]
    const c = twCos[k], s = twSin[k];
    const re = er + c * or + s * oi;
    const im = ei + c * oi - s * or;
    power[k] = 0.25 * (re * re + im * im);
  }
}

/** powerSpectrum with pffft: its ordered real output is [X0, X(n/2), re X1, im X1, ...]. */
function powerSpectrum32(p: Plan, fft: Fft32): void {
  const { nFft, power } = p;
  const half = nFft >> 1;
  fft.forward();
  const out = fft.output;
  power[0] = out[0] * out[0];
  power[half] = out[1] * out[1];
  for (let k = 1; k < half; k++) {
    const re = out[2 * k], im = out[2 * k + 1];
    power[k] = re * re + im * im;
  }
}

/** Mel energies of p.power in dB into out[row..row+nMels); returns the row's maximum. */
function melDb(p: Plan, out: Float64Array, row: number): number {
  const { nMels, power } = p;
  const { start, length, offset, weights } = p.mel;
  let max = -Infinity;
  for (let m = 0; m < nMels; m++) {
    let acc = 0;
    const k0 = start[m], w0 = offset[m], len = length[m];
    for (let j = 0; j < len; j++) acc += weights[w0 + j] * power[k0 + j];
    const db = 10 * Math.log10(acc > AMIN ? acc : AMIN);
    out[row + m] = db;
    if (db > max) max = db;
  }
  return max;
}

/** Orthonormal DCT-II of the log-mel row src[row..row+nMels), first nMfcc coefficients into data[at..]. */
function dctRow(p: Plan, src: Float64Array, row: number, data: Float32Array, at: number): void {
  const { nMels, nMfcc, dctFolded, folded } = p;
  const half = (nMels + 1) >> 1;
  const pairs = nMels >> 1;
  // folded = [sums (half) | differences (pairs)]
  for (let m = 0; m < pairs; m++) {
    const lo = src[row + m], hi = src[row + nMels - 1 - m];
    folded[m] = lo + hi;
    folded[half + m] = lo - hi;
  }
  if (half > pairs) folded[pairs] = src[row + pairs];
  for (let k = 0; k < nMfcc; k++) {
    const base = k * half;
    let acc = 0;
    if ((k & 1) === 0) for (let m = 0; m < half; m++) acc += dctFolded[base + m] * folded[m];
    else for (let m = 0; m < pairs; m++) acc += dctFolded[base + m] * folded[half + m];
    data[at + k] = acc;
  }
}

/** Log-mel spectrogram in dB of every centred frame, before truncation; top-dB applied when set. */
function logMel(y: ArrayLike<number>, p: Plan, topDb: number | null, reuse = false): LogMelResult {
  const { nFft, hop, nMels } = p;
  const frames = frameCount(y.length, hop);
  let out: Float64Array;
  if (reuse) {
    // Scratch kept in the plan: one large allocation per clip less for the garbage collector.
    if (p.scratch.length < frames * nMels) p.scratch = new Float64Array(Math.ceil(frames * 1.25) * nMels);
    out = p.scratch.subarray(0, frames * nMels);
  } else {
    out = new Float64Array(frames * nMels);
  }
  let maxDb = -Infinity;
  for (let t = 0; t < frames; t++) {
    windowFrame(y, t * hop - (nFft >> 1), p);
    powerSpectrum(p);
    maxDb = Math.max(maxDb, melDb(p, out, t * nMels));
  }
  if (topDb !== null) {
    const floor = maxDb - topDb;
    for (let i = 0; i < out.length; i++) if (out[i] < floor) out[i] = floor;
  }
  return { data: out, frames, nMels };
}

/** librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, ...)).T: frames x nMels, float64. */
export function logMelSpectrogram(y: ArrayLike<number>, opts: MfccOptions = {}): LogMelResult {
  const r = resolveMfccOptions(opts);
  return logMel(y, planFor(r), r.topDb);
}

/**
 * librosa.feature.mfcc(y=y, sr=sr, n_mfcc=nMfcc).T, padded with zero rows or truncated at the end
 * to `opts.frames` when given.
 */
export function mfccFrames(y: ArrayLike<number>, opts: MfccOptions = {}): MfccResult {
  const r = resolveMfccOptions(opts);
  const p = planFor(r);
  const lm = logMel(y, p, r.topDb, true);
  const frames = r.frames ?? lm.frames;
  const keep = Math.min(frames, lm.frames);
  const data = new Float32Array(frames * p.nMfcc);
  for (let t = 0; t < keep; t++) dctRow(p, lm.data, t * p.nMels, data, t * p.nMfcc);
  return { data, frames, nMfcc: p.nMfcc };
}
