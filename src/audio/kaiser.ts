/**
 * Kaiser-windowed-sinc low-pass design with libsoxr's parameter rules (libsoxr 0.1.3,
 * src/filter.c), so that our filters have the same pass-band, transition band and stop-band
 * as soxr's: the 10-11 kHz transition band at 22050 Hz feeds librosa's top mel bands, and
 * matching it is what makes our MFCCs match librosa's.
 */

export const linearToDb = (x: number): number => 20 * Math.log10(x);
const dbToLinear = (x: number): number => Math.exp(x * (Math.LN10 * 0.05));

/** Modified Bessel function of the first kind, order 0 (power series; exact to double precision for |x| < 40). */
export function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** soxr's Kaiser beta for a given attenuation and (normalised, one-sided) transition bandwidth. */
export function kaiserBeta(att: number, trBw: number): number {
  if (att >= 60) {
    // Cubic fits in att, one per octave of transition bandwidth, interpolated (soxr's table).
    const coefs: ReadonlyArray<readonly [number, number, number, number]> = [
      [-6.784957e-10, 1.02856e-5, 0.1087556, -0.8988365 + 0.001],
      [-6.897885e-10, 1.027433e-5, 0.10876, -0.8994658 + 0.002],
      [-1.000683e-9, 1.030092e-5, 0.1087677, -0.9007898 + 0.003],
      [-3.654474e-10, 1.040631e-5, 0.1087085, -0.8977766 + 0.006],
      [8.106988e-9, 6.983091e-6, 0.1091387, -0.9172048 + 0.015],
      [9.519571e-9, 7.272678e-6, 0.1090068, -0.9140768 + 0.025],
      [-5.626821e-9, 1.342186e-5, 0.1083999, -0.9065452 + 0.05],
      [-9.965946e-8, 5.073548e-5, 0.1040967, -0.7672778 + 0.085],
      [1.604808e-7, -5.856462e-5, 0.1185998, -1.34824 + 0.1],
      [-1.511964e-7, 6.363034e-5, 0.1064627, -0.9876665 + 0.18],
    ];
    const realm = Math.log(trBw / 0.0005) / Math.LN2;
    const whole = Math.trunc(realm);
    const clamp = (i: number) => Math.min(Math.max(i, 0), coefs.length - 1);
    const c0 = coefs[clamp(whole)]!;
    const c1 = coefs[clamp(whole + 1)]!;
    const b0 = ((c0[0] * att + c0[1]) * att + c0[2]) * att + c0[3];
    const b1 = ((c1[0] * att + c1[1]) * att + c1[2]) * att + c1[3];
    return b0 + (b1 - b0) * (realm - whole);
  }
  if (att > 50) return 0.1102 * (att - 8.7);
  if (att > 20.96) return 0.58417 * Math.pow(att - 20.96, 0.4) + 0.07886 * (att - 20.96);
  return 0;
}

const sinePhi = (x: number) => ((2.0517e-7 * x - 1.1303e-4) * x + 0.023154) * x + 0.55924;
const sinePow = (x: number) => Math.log(0.5) / Math.log(Math.sin(x * 0.5));

/**
 * soxr's model of where a Kaiser low-pass with attenuation `att` dB has fallen by `dropDb`
 * (negative), as a fraction of its transition band (lsx_inv_f_resp).
 */
export function invFreqResponse(dropDb: number, att: number): number {
  const phi = sinePhi(att);
  const drop = dbToLinear(dropDb);
  const s = drop > 0.5 ? 1 - drop : drop;
  const x = Math.asin(Math.pow(s, 1 / sinePow(phi))) / phi;
  return drop > 0.5 ? x : 1 - x;
}

export interface LowPassSpec {
  /** Pass-band end, stop-band start and Nyquist, in the same (arbitrary) unit. */
  fp: number;
  fs: number;
  fn: number;
  /** Stop-band attenuation, dB. */
  att: number;
  /** >0: number of polyphase phases; <0: the length must be 1 modulo -k. */
  k: number;
  /** Fixed length, or 0 to estimate it from the spec. */
  taps?: number;
}

export interface LowPassDesign {
  taps: number;
  /** Cut-off (6 dB point) relative to the (upsampled) Nyquist. */
  fc: number;
  beta: number;
  rho: number;
  phases: number;
}

/** Length, cut-off and window of soxr's design for `spec` (lsx_design_lpf without the coefficients). */
export function lowPassParams(spec: LowPassSpec): LowPassDesign {
  const phases = Math.max(spec.k, 1);
  const modulo = Math.max(-spec.k, 1);
  const rho = phases === 1 ? 0.5 : spec.att < 120 ? 0.63 : 0.75;
  const fp = spec.fp / spec.fn;
  let fs = spec.fs / spec.fn;
  let trBw = (0.5 * (fs - fp)) / phases;
  fs /= phases;
  trBw = Math.min(trBw, 0.5 * fs);
  const fc = fs - trBw;
  const beta = kaiserBeta(spec.att, (trBw * 0.5) / fc);
  let taps = spec.taps ?? 0;
  if (!taps) {
    const a =
      spec.att < 60
        ? (spec.att - 7.95) / (2.285 * Math.PI * 2)
        : ((0.0007528358 - 1.577737e-5 * beta) * beta + 0.6248022) * beta + 0.06186902;
    const n = Math.ceil(a / trBw + 1);
    taps =
      phases > 1
        ? Math.trunc(n / phases) * phases + phases - 1
        : Math.trunc((n + modulo - 2) / modulo) * modulo + 1;
  }
  return { taps, fc, beta, rho, phases };
}

/** The symmetric Kaiser-windowed sinc of `d`, with gain `d.phases` (lsx_make_lpf). */
export function makeLowPass(d: LowPassDesign): Float64Array {
  const { taps, fc, beta, rho } = d;
  const m = taps - 1;
  const h = new Float64Array(taps);
  const mult = d.phases / besselI0(beta);
  const mult1 = 1 / (0.5 * m + rho);
  for (let i = 0; i <= m / 2; i++) {
    const z = i - 0.5 * m;
    const x = z * Math.PI;
    const y = z * mult1;
    let v = x !== 0 ? Math.sin(fc * x) / x : fc;
    v *= besselI0(beta * Math.sqrt(1 - y * y)) * mult;
    h[i] = v;
    h[m - i] = v;
  }
  return h;
}
