/**
 * Mel scale and triangular mel filterbank, as librosa.filters.mel (Slaney scale and 'slaney' area
 * normalisation by default, HTK scale optional). Computed in float64; librosa rounds its matrix to
 * float32, which differs by at most one float32 ulp.
 */

export interface MelFilterbankOptions {
  sampleRate: number;
  nFft: number;
  nMels: number;
  fmin: number;
  /** Upper edge in Hz (librosa's default: sampleRate / 2). */
  fmax: number;
  /** HTK mel formula instead of Slaney's (default false). */
  htk?: boolean;
}

/** Only the nonzero span of each triangle is kept: mel = sum over k in [start, start+len) of w * power[k]. */
export interface SparseMelFilterbank {
  nMels: number;
  /** 1 + nFft/2 */
  nBins: number;
  /** First nonzero FFT bin of filter m. */
  start: Int32Array;
  /** Number of bins of filter m (0 for a filter that falls between two bins). */
  length: Int32Array;
  /** Offset of filter m's weights in `weights`. */
  offset: Int32Array;
  weights: Float64Array;
}

const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOGSTEP = Math.log(6.4) / 27;

export function hzToMel(hz: number, htk = false): number {
  if (htk) return 2595 * Math.log10(1 + hz / 700);
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOGSTEP : hz / F_SP;
}

export function melToHz(mel: number, htk = false): number {
  if (htk) return 700 * (10 ** (mel / 2595) - 1);
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/** `n` frequencies evenly spaced on the mel scale from fmin to fmax inclusive (librosa.mel_frequencies). */
export function melFrequencies(n: number, fmin: number, fmax: number, htk = false): Float64Array {
  const lo = hzToMel(fmin, htk);
  const hi = hzToMel(fmax, htk);
  const out = new Float64Array(n);
  // Same arithmetic as numpy.linspace: start + i * step, last point exactly `stop`.
  const step = n > 1 ? (hi - lo) / (n - 1) : 0;
  for (let i = 0; i < n; i++) out[i] = melToHz(i === n - 1 && n > 1 ? hi : lo + i * step, htk);
  return out;
}

/** The dense filterbank, nMels x (1 + nFft/2) row-major, as librosa.filters.mel(..., norm='slaney'). */
export function melFilterbank(o: MelFilterbankOptions): Float64Array {
  const nBins = 1 + Math.floor(o.nFft / 2);
  const fb = new Float64Array(o.nMels * nBins);
  // numpy.fft.rfftfreq: k * (1 / (n * d)) with d = 1 / sr.
  const binHz = 1 / (o.nFft * (1 / o.sampleRate));
  const melF = melFrequencies(o.nMels + 2, o.fmin, o.fmax, o.htk ?? false);
  for (let m = 0; m < o.nMels; m++) {
    const f0 = melF[m], f1 = melF[m + 1], f2 = melF[m + 2];
    const lowerWidth = f1 - f0, upperWidth = f2 - f1;
    const enorm = 2 / (f2 - f0);
    for (let k = 0; k < nBins; k++) {
      const f = k * binHz;
      const lower = -(f0 - f) / lowerWidth;
      const upper = (f2 - f) / upperWidth;
      const w = Math.max(0, Math.min(lower, upper));
      fb[m * nBins + k] = w * enorm;
    }
  }
  return fb;
}

/** The same filterbank keeping only each filter's nonzero range. */
export function sparseMelFilterbank(o: MelFilterbankOptions): SparseMelFilterbank {
  const dense = melFilterbank(o);
  const nBins = 1 + Math.floor(o.nFft / 2);
  const start = new Int32Array(o.nMels);
  const length = new Int32Array(o.nMels);
  const offset = new Int32Array(o.nMels);
  const parts: number[] = [];
  for (let m = 0; m < o.nMels; m++) {
    const row = m * nBins;
    let first = -1, last = -1;
    for (let k = 0; k < nBins; k++) {
      if (dense[row + k] !== 0) {
        if (first < 0) first = k;
        last = k;
      }
    }
    offset[m] = parts.length;
    if (first >= 0) {
      start[m] = first;
      length[m] = last - first + 1;
      for (let k = first; k <= last; k++) parts.push(dense[row + k]);
    }
  }
  return { nMels: o.nMels, nBins, start, length, offset, weights: Float64Array.from(parts) };
}
