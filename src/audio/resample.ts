/**
 * Sample-rate conversion matching librosa's default `soxr_hq` (libsoxr HQ through python-soxr),
 * as librosa.load(path, sr=...) and librosa.resample(..., res_type='soxr_hq') do it:
 *   - the filter chain of soxr-plan.ts, every stage zero-delay (output k is input time k*in/out);
 *   - the signal is zero before its start (soxr pre-loads zeros) and flushed with zeros at the end;
 *   - soxr emits round(n*out/in) samples; librosa then pads/trims to ceil(n*out/in).
 * Filters are designed once per ratio and memoised; stages run in float64.
 */
import { fftOfSize } from './fft.js';
import { fftConvolver32, type FftConvolver32 } from './pffft.js';
import { planResample, type FirStage, type HalfStage, type PolyStage, type Stage } from './soxr-plan.js';

/** Output length of librosa.resample: ceil(n * out / in). */
export function resampledLength(n: number, inRate: number, outRate: number): number {
  return Math.ceil(n * (outRate / inRate));
}

/**
 * Most samples one call may produce (2^27: 512 MB of float32, 101 min at 22050 Hz). Checked
 * before anything is allocated, so a bogus rate or length fails fast instead of taking the memory.
 */
export const MAX_RESAMPLE_SAMPLES = 2 ** 27;

const plans = new Map<number, Runner[]>();

/**
 * librosa.resample(x, orig_sr=inRate, target_sr=outRate, res_type='soxr_hq') for one channel.
 * Rates may be fractional (pitch shifting resamples from sr/rate). With `fixedLength`, the
 * output is cut or zero-padded to that many samples (librosa.util.fix_length) without a copy.
 */
export function resample(
  x: Float32Array | Float64Array,
  inRate: number,
  outRate: number,
  fixedLength?: number,
): Float32Array {
  if (!(inRate > 0) || !(outRate > 0) || !Number.isFinite(inRate) || !Number.isFinite(outRate)) {
    throw new RangeError(`resample: rates must be positive and finite (got ${inRate} -> ${outRate})`);
  }
  const outLen = fixedLength ?? resampledLength(x.length, inRate, outRate);
  if (outLen > MAX_RESAMPLE_SAMPLES) {
    throw new RangeError(`resample: ${outLen} output samples (${x.length} at ${inRate} Hz -> ${outRate} Hz) exceed the limit of ${MAX_RESAMPLE_SAMPLES}`);
  }
  if (inRate === outRate) return fixLength(x, outLen);
  const ioRatio = inRate / outRate;
  let runners = plans.get(ioRatio);
  if (!runners) {
    runners = planResample(ioRatio).stages.map(prepareStage);
    // Pitch shifting draws a new ratio per clip: keep the cache (and its scratch buffers) small.
    if (plans.size >= 16) plans.clear();
    plans.set(ioRatio, runners);
  }
  // soxr's output count: samples_in / io_ratio, rounded.
  const soxrLen = Math.min(Math.trunc(x.length / ioRatio + 0.5), outLen);
  const first = runners[0]!;
  // A stage that reads no margin (the FFT filter) takes the caller's samples as they are.
  let sig: Signal = { data: x, off: 0, len: x.length };
  if (first.pad > 0) {
    const data = scratchF64('in', x.length + 2 * first.pad);
    data.fill(0, 0, first.pad);
    data.set(x, first.pad);
    data.fill(0, first.pad + x.length);
    sig = { data, off: first.pad, len: x.length };
  }
  for (let i = 0; i < runners.length; i++) {
    const next = runners[i + 1];
    // The last stage writes soxr's round(n*out/in) samples into librosa's ceil(n*out/in) output.
    sig = next ? runners[i]!.run(sig, undefined, next.pad, undefined, i & 1) : runners[i]!.run(sig, soxrLen, 0, outLen, i & 1);
  }
  return sig.data as Float32Array;
}

/** A copy of x truncated or zero-padded to n samples (librosa.util.fix_length). */
function fixLength(x: Float32Array | Float64Array, n: number): Float32Array {
  const out = new Float32Array(n);
  out.set(x.length > n ? x.subarray(0, n) : x);
  return out;
}

/**
 * Grow-only scratch, one set per thread (module state) and shared by every ratio's plan: a fresh
 * large typed array costs page faults on first touch at every call, which outweighed the
 * filtering itself. Callers get exactly `n` elements (a view) and must clear what they need zero.
 */
const scratch = new Map<string, Float64Array>();
/** Larger buffers (a clip of minutes) are allocated per call rather than kept. */
const SCRATCH_KEEP_MAX = 1 << 22;
function scratchF64(key: string, n: number): Float64Array {
  let a = scratch.get(key);
  if (!a || a.length < n) {
    a = new Float64Array(Math.ceil(n * 1.25));
    if (a.length <= SCRATCH_KEEP_MAX) scratch.set(key, a);
  }
  return a.subarray(0, n);
}

/**
 * Samples data[off .. off+len) of a stage's input or output, with zeros around them: at least the
 * reading stage's `pad` before, and after up to the end of `data`.
 */
interface Signal {
  data: Float64Array | Float32Array;
  off: number;
  len: number;
}

/** A stage ready to run: `count` outputs, or (when undefined) every output that can be non-zero. */
interface Runner {
  /** Zeros this stage reads before its input's first sample (and the margin it wants after it). */
  readonly pad: number;
  /**
   * With `finalLen`, the output is a Float32Array of that length (>= count), at offset 0.
   * Otherwise it lives in scratch `slot` (0/1, alternating by stage, so a stage never writes
   * the buffer it reads) until the next call.
   */
  run(x: Signal, count: number | undefined, outPad: number, finalLen: number | undefined, slot: number): Signal;
}

function prepareStage(st: Stage): Runner {
  switch (st.kind) {
    case 'half':
      return halfRunner(st);
    case 'fir':
      // Long filters by FFT (as soxr); a few dozen taps per output are cheaper directly.
      return st.h.length / st.L > 48 ? fftFirRunner(st) : firRunner(st);
    case 'poly':
      return st.order === 0 ? rationalPolyRunner(st) : interpolatedPolyRunner(st);
  }
}

/** An output signal of `num` samples with `pad` zeros around, or the final float32 output. */
function newSignal(num: number, pad: number, finalLen: number | undefined, slot: number): Signal {
  if (finalLen !== undefined) return { data: new Float32Array(finalLen), off: 0, len: num };
  const data = scratchF64(`out${slot}`, pad + num + pad);
  data.fill(0, 0, pad);
  data.fill(0, pad + num);
  return { data, off: pad, len: num };
}

/**
 * Makes sure the input has zeros far enough past its end for `num` outputs reading up to input
 * index `lastIndex`; re-pads (one copy) only when the caller's margin is too small.
 */
function ensureTail(x: Signal, before: number, lastIndex: number, slot: number): Signal & { data: Float64Array } {
  if (x.data instanceof Float64Array && x.off >= before && x.off + lastIndex < x.data.length) {
    return x as Signal & { data: Float64Array };
  }
  const data = scratchF64(`tail${slot}`, before + Math.max(x.len, lastIndex + 1) + 1);
  data.fill(0, 0, before);
  data.set(x.data.subarray(x.off, x.off + x.len), before);
  data.fill(0, before + x.len);
  return { data, off: before, len: x.len };
}

function halfRunner(st: HalfStage): Runner {
  const c = st.coefs;
  const n = c.length;
  const reach = 2 * n;
  return {
    pad: reach,
    run(x0, count, outPad, finalLen, slot) {
      const num = count ?? Math.floor((x0.len - 1 + reach) / 2) + 1;
      const x = ensureTail(x0, reach, 2 * num + reach, slot);
      const p = x.data;
      const out = newSignal(num, outPad, finalLen, slot);
      const y = out.data;
      for (let i = 0; i < num; i++) {
        const at = x.off + 2 * i;
        let s = 0.5 * p[at]!;
        for (let j = 0; j < n; j++) s += c[j]! * (p[at - 2 * j - 1]! + p[at + 2 * j + 1]!);
        y[outPad + i] = s;
      }
      return out;
    },
  };
}

/**
 * Upsample by L, filter, downsample by M, directly in the time domain:
 * y[m] = sum_k h[k] u[mM + c - k] with u[jL] = x[j] and c the filter centre.
 */
function firRunner(st: FirStage): Runner {
  const { L, M, h } = st;
  const T = h.length;
  const c = (T - 1) >> 1;
  // Phase r of the filter holds taps h[r], h[r+L], ...: those that meet input samples when (t - r) % L == 0.
  const phaseTaps: Float64Array[] = [];
  for (let r = 0; r < L; r++) {
    const taps: number[] = [];
    for (let k = r; k < T; k += L) taps.push(h[k]!);
    phaseTaps.push(Float64Array.from(taps));
  }
  const reach = Math.ceil(T / L) + 1;
  return {
    pad: reach,
    run(x0, count, outPad, finalLen, slot) {
      const num = count ?? Math.floor(((x0.len - 1) * L + c) / M) + 1;
      const x = ensureTail(x0, reach, Math.ceil(((num - 1) * M + c) / L) + 1, slot);
      const p = x.data;
      const out = newSignal(num, outPad, finalLen, slot);
      const y = out.data;
      for (let m = 0; m < num; m++) {
        const t = m * M + c;
        const r = t % L;
        const j0 = (t - r) / L + x.off; // input index met by tap h[r]
        const taps = phaseTaps[r]!;
        let s = 0;
        for (let i = 0; i < taps.length; i++) s += taps[i]! * p[j0 - i]!;
        y[outPad + m] = s;
      }
      return out;
    },
  };
}

/**
 * The same filter by FFT convolution (what soxr does), on the zero-stuffed signal u: two real
 * blocks share one complex transform (real part one block, imaginary part the next), since h is
 * real. The inverse transform is a forward one on the conjugate, with 1/N folded into the filter.
 */
function fftFirRunner(st: FirStage): Runner {
  const { L, M, h } = st;
  const T = h.length;
  const c = (T - 1) >> 1;
  let N = 1024;
  while (N < 8 * T) N <<= 1;
  const B = N - T + 1; // new input samples per block
  // pffft when it loaded; else fft.js in float64, with the spectrum of h made here.
  const f32 = fftConvolver32(N, h);
  const fft = f32 ? undefined : fftOfSize(N);
  const H = new Float64Array(fft ? 2 * N : 0);
  if (fft) {
    const hPad = new Float64Array(2 * N);
    for (let k = 0; k < T; k++) hPad[2 * k] = h[k]! / N;
    fft.transform(H, hPad);
  }
  return {
    pad: 0,
    run(x, count, outPad, finalLen, slot) {
      const num = count ?? Math.floor(((x.len - 1) * L + c) / M) + 1;
      // Filtered zero-stuffed signal z[t] = sum_k h[k] u[t - k]; output m is z[mM + c].
      const need = (num - 1) * M + c + 1;
      const inLen = Math.min(x.len * L, need);
      const xd = x.data;
      const x0 = x.off;
      const z = scratchF64(`z${slot}`, need + N);
      z.fill(0);
      if (!fft) {
        convolveBlocks32(f32!, B, L, xd, x0, inLen, need, z);
        return fftFirOutput(z, c, M, num, outPad, finalLen, slot);
      }
      // Transform buffers shared by every runner of this size; buf[2B..2N) must be zero.
      const buf = scratchF64('fft-buf', 2 * N);
      const spec = scratchF64('fft-spec', 2 * N);
      const res = scratchF64('fft-res', 2 * N);
      buf.fill(0, 2 * B);
      for (let start = 0; start < inLen; start += 2 * B) {
        const endA = Math.min(start + B, inLen);
        const startB = start + B;
        const endB = Math.min(startB + B, inLen);
        if (L === 1) {
          if (endB - startB < B) buf.fill(0, 0, 2 * B); // a short (last) pair: clear stale samples
          for (let t = start, o = x0 + start, i = 0; t < endA; t++, o++, i += 2) buf[i] = xd[o]!;
          for (let t = startB, o = x0 + startB, i = 1; t < endB; t++, o++, i += 2) buf[i] = xd[o]!;
        } else {
          buf.fill(0, 0, 2 * B);
          for (let t = Math.ceil(start / L) * L; t < endA; t += L) buf[2 * (t - start)] = xd[x0 + t / L]!;
          for (let t = Math.ceil(startB / L) * L; t < endB; t += L) buf[2 * (t - startB) + 1] = xd[x0 + t / L]!;
        }
        fft.transform(spec, buf);
        // spec <- conj(spec * H): transforming it again gives N * conj(ifft(spec * H)).
        for (let k = 0; k < 2 * N; k += 2) {
          const ar = spec[k]!;
          const ai = spec[k + 1]!;
          const br = H[k]!;
          const bi = H[k + 1]!;
          spec[k] = ar * br - ai * bi;
          spec[k + 1] = -(ar * bi + ai * br);
        }
        fft.transform(res, spec);
        const lenA = Math.min(N, need + N - start);
        for (let i = 0, o = start; i < 2 * lenA; i += 2, o++) z[o] += res[i]!;
        if (startB < inLen) {
          const lenB = Math.min(N, need + N - startB);
          for (let i = 1, o = startB; i < 2 * lenB; i += 2, o++) z[o] -= res[i]!;
        }
      }
      return fftFirOutput(z, c, M, num, outPad, finalLen, slot);
    },
  };
}

/** Every M-th sample of the filtered signal z from its centre c on: the stage's output. */
function fftFirOutput(z: Float64Array, c: number, M: number, num: number, outPad: number, finalLen: number | undefined, slot: number): Signal {
  if (M === 1 && finalLen === undefined && c >= outPad) {
    // Hand on the buffer itself: output m is z[c + m]. Clear the pad before it, where z
    // holds the filter's lead-in (soxr starts the next stage on zeros); after
    // x.len + T - 1 the convolution is zero.
    z.fill(0, c - outPad, c);
    return { data: z, off: c, len: num };
  }
  const out = newSignal(num, outPad, finalLen, slot);
  const y = out.data;
  for (let m = 0, t = c; m < num; m++, t += M) y[outPad + m] = z[t]!;
  return out;
}

/**
 * The block convolution of fftFirRunner with pffft's float32 real FFT (soxr too filters in
 * float32): one block of B new (zero-stuffed) input samples per transform, its N-point
 * convolution with h summed into z (float64).
 */
function convolveBlocks32(
  conv: FftConvolver32,
  B: number,
  L: number,
  xd: Float32Array | Float64Array,
  x0: number,
  inLen: number,
  need: number,
  z: Float64Array,
): void {
  const N = conv.size;
  const buf = conv.input;
  const res = conv.output;
  for (let start = 0; start < inLen; start += B) {
    const end = Math.min(start + B, inLen);
    if (L === 1) {
      buf.set(xd.subarray(x0 + start, x0 + end));
      buf.fill(0, end - start);
    } else {
      buf.fill(0);
      for (let t = Math.ceil(start / L) * L; t < end; t += L) buf[t - start] = xd[x0 + t / L]!;
    }
    conv.filter();
    const len = Math.min(N, need + N - start);
    for (let i = 0, o = start; i < len; i++, o++) z[o] += res[i]!;
  }
}

/** Prototype sample h[pos], zero off the ends. */
function tapAt(h: Float64Array, pos: number): number {
  return pos >= 0 && pos < h.length ? h[pos]! : 0;
}

/**
 * Rational ratio: output k sits at position at0 + k*step in units of 1/phases input samples;
 * its phase picks an exact coefficient set. Tap s (in input order) of phase r is soxr's
 * h[(taps-1-s)*phases + r - 1].
 */
function rationalPolyRunner(st: PolyStage): Runner {
  const { taps, phases, h, at0, step } = st;
  // Rows padded with zeros to a multiple of 4 taps (as soxr's SIMD layout) so the inner loop
  // runs in blocks of four.
  const taps4 = (taps + 3) & ~3;
  const table = new Float64Array(phases * taps4);
  for (let r = 0; r < phases; r++) {
    for (let s = 0; s < taps; s++) table[r * taps4 + s] = tapAt(h, (taps - 1 - s) * phases + r - 1);
  }
  const pre = (taps - 1) >> 1; // soxr pre-loads this many zeros
  const stepDiv = Math.floor(step / phases);
  const stepRem = step - stepDiv * phases;
  return {
    pad: taps4 + 2,
    run(x0, count, outPad, finalLen, slot) {
      const num = count ?? Math.floor(((x0.len + taps) * phases - at0) / step) + 1;
      const x = ensureTail(x0, pre, Math.ceil((at0 + num * step) / phases) + taps4, slot);
      const p = x.data;
      const out = newSignal(num, outPad, finalLen, slot);
      const y = out.data;
      let div = Math.floor(at0 / phases);
      let rem = at0 - div * phases;
      let j = x.off - pre + div;
      if (taps4 === 16 && taps <= 14) {
        // The usual case (14 taps, as 48k -> 22050), written out without the two zero taps
        // of the padded row: the same sums, about twice as fast as the loop.
        for (let k = 0; k < num; k++) {
          const o = rem * 16;
          const q = j;
          y[outPad + k] =
            table[o]! * p[q]! + table[o + 1]! * p[q + 1]! + table[o + 2]! * p[q + 2]! + table[o + 3]! * p[q + 3]! +
            (table[o + 4]! * p[q + 4]! + table[o + 5]! * p[q + 5]! + table[o + 6]! * p[q + 6]! + table[o + 7]! * p[q + 7]!) +
            (table[o + 8]! * p[q + 8]! + table[o + 9]! * p[q + 9]! + table[o + 10]! * p[q + 10]! + table[o + 11]! * p[q + 11]!) +
            (table[o + 12]! * p[q + 12]! + table[o + 13]! * p[q + 13]!);
          rem += stepRem;
          j += stepDiv;
          if (rem >= phases) {
            rem -= phases;
            j++;
          }
        }
        return out;
      }
      if (taps4 === 16) {
        // 15-16 taps, written out: about twice as fast as the loop.
        for (let k = 0; k < num; k++) {
          const o = rem * 16;
          const q = j;
          y[outPad + k] =
            table[o]! * p[q]! + table[o + 1]! * p[q + 1]! + table[o + 2]! * p[q + 2]! + table[o + 3]! * p[q + 3]! +
            (table[o + 4]! * p[q + 4]! + table[o + 5]! * p[q + 5]! + table[o + 6]! * p[q + 6]! + table[o + 7]! * p[q + 7]!) +
            (table[o + 8]! * p[q + 8]! + table[o + 9]! * p[q + 9]! + table[o + 10]! * p[q + 10]! + table[o + 11]! * p[q + 11]!) +
            (table[o + 12]! * p[q + 12]! + table[o + 13]! * p[q + 13]! + table[o + 14]! * p[q + 14]! + table[o + 15]! * p[q + 15]!);
          rem += stepRem;
          j += stepDiv;
          if (rem >= phases) {
            rem -= phases;
            j++;
          }
        }
        return out;
      }
      for (let k = 0; k < num; k++) {
        let s = 0;
        for (let o = rem * taps4, e = o + taps4, q = j; o < e; o += 4, q += 4) {
          s += table[o]! * p[q]! + table[o + 1]! * p[q + 1]! + table[o + 2]! * p[q + 2]! + table[o + 3]! * p[q + 3]!;
        }
        y[outPad + k] = s;
        rem += stepRem;
        j += stepDiv;
        if (rem >= phases) {
          rem -= phases;
          j++;
        }
      }
      return out;
    },
  };
}

/**
 * Irrational ratio: 2^b phases and, between them, a polynomial of the given order through
 * neighbouring prototype samples (soxr's coefficient interpolation).
 */
function interpolatedPolyRunner(st: PolyStage): Runner {
  const { taps, phases, order, h, at0, step } = st;
  const n1 = order + 1;
  // coef[(r * taps + s) * n1 + q]: coefficient of u^q for tap s of phase r.
  const coef = new Float64Array(phases * taps * n1);
  for (let r = 0; r < phases; r++) {
    for (let s = 0; s < taps; s++) {
      const pos = (taps - 1 - s) * phases + r - 1;
      const fm1 = tapAt(h, pos - 1);
      const f0 = tapAt(h, pos);
      const f1 = tapAt(h, pos + 1);
      const f2 = tapAt(h, pos + 2);
      const o = (r * taps + s) * n1;
      coef[o] = f0;
      if (order === 1) {
        coef[o + 1] = f1 - f0;
      } else if (order === 2) {
        const c = 0.5 * (f2 + f0) - f1;
        coef[o + 1] = f1 - c - f0;
        coef[o + 2] = c;
      } else {
        const c = 0.5 * (f1 + fm1) - f0;
        const d = (1 / 6) * (f2 - f1 + fm1 - f0 - 4 * c);
        coef[o + 1] = f1 - f0 - d - c;
        coef[o + 2] = c;
        coef[o + 3] = d;
      }
    }
  }
  const pre = (taps - 1) >> 1;
  return {
    pad: taps + 2,
    run(x0, count, outPad, finalLen, slot) {
      const num = count ?? Math.floor((x0.len + taps - at0) / step) + 1;
      const x = ensureTail(x0, pre, Math.ceil(at0 + num * step) + taps + 1, slot);
      const p = x.data;
      const out = newSignal(num, outPad, finalLen, slot);
      const y = out.data;
      const base0 = x.off - pre;
      for (let k = 0; k < num; k++) {
        const at = at0 + k * step;
        const whole = Math.floor(at);
        const fr = (at - whole) * phases;
        const r = Math.floor(fr);
        const u = fr - r;
        const j = base0 + whole;
        let o = r * taps * n1;
        // sum_i (c0 + u c1 + u^2 c2 + ...) p_i as sum c0 p + u (sum c1 p + u ...): one
        // accumulator per power, independent chains (soxr's own order of operations).
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        if (order === 1) {
          for (let i = j, e = j + taps; i < e; i++, o += 2) {
            const v = p[i]!;
            s0 += coef[o]! * v;
            s1 += coef[o + 1]! * v;
          }
          y[outPad + k] = s0 + u * s1;
        } else if (order === 2) {
          for (let i = j, e = j + taps; i < e; i++, o += 3) {
            const v = p[i]!;
            s0 += coef[o]! * v;
            s1 += coef[o + 1]! * v;
            s2 += coef[o + 2]! * v;
          }
          y[outPad + k] = s0 + u * (s1 + u * s2);
        } else {
          for (let i = j, e = j + taps; i < e; i++, o += 4) {
            const v = p[i]!;
            s0 += coef[o]! * v;
            s1 += coef[o + 1]! * v;
            s2 += coef[o + 2]! * v;
            s3 += coef[o + 3]! * v;
          }
          y[outPad + k] = s0 + u * (s1 + u * (s2 + u * s3));
        }
      }
      return out;
    },
  };
}
