/**
 * The filter chain libsoxr builds for its 'HQ' recipe (the one librosa.load uses, via
 * python-soxr's `soxr_hq`): 20-bit precision, linear phase, pass-band to ~0.914 of the output
 * Nyquist, zero delay. This module decides the stages and designs their filters, following
 * libsoxr 0.1.3's `_soxr_init` (src/cr.c) and `soxr_quality_spec` (src/soxr.c) for that one
 * recipe; `resample.ts` runs them. Reproducing soxr's stage split, not just its headline
 * figures, matters: each stage's transition band shapes the 10-11 kHz region that the top
 * mel bands see, and the MFCC reference was computed through exactly this chain.
 *
 * A chain is up to four kinds of stage, each zero-delay (output m sits at input time m*M/L):
 *   - `half`: decimate by 2 with a fixed half-band FIR (only for ratios >= 4);
 *   - `fir`:  upsample by L, low-pass, downsample by M (soxr runs these by FFT);
 *   - `poly`: polyphase FIR for the remaining (possibly irrational) ratio, with a table of
 *             phases, interpolated between phases when the ratio is not a small fraction;
 *   - a second `fir` after it for large upsampling ratios.
 */
import { invFreqResponse, linearToDb, lowPassParams, makeLowPass } from './kaiser.js';

export interface HalfStage {
  kind: 'half';
  /** Odd-tap coefficients c[j] applied to x[2i-(2j+1)] + x[2i+(2j+1)]; the centre tap is 0.5. */
  coefs: Float64Array;
}

export interface FirStage {
  kind: 'fir';
  L: number;
  M: number;
  /** Symmetric low-pass (odd length), gain L included. */
  h: Float64Array;
}

export interface PolyStage {
  kind: 'poly';
  /** Taps per output. */
  taps: number;
  /** Number of coefficient phases (L for a rational stage, 2^phaseBits when interpolating). */
  phases: number;
  /** 0: one exact phase per output position (rational ratio); 1-3: polynomial between phases. */
  order: number;
  /**
   * Rational stage: positions are integers in units of 1/phases input samples, starting at
   * `at0` and advancing by `step`. Interpolating stage: positions in input samples.
   */
  at0: number;
  step: number;
  /** Prototype filter, length taps * phases - 1, gain `phases`. */
  h: Float64Array;
}

export type Stage = HalfStage | FirStage | PolyStage;

export interface ResamplePlan {
  /** Input rate / output rate. */
  ioRatio: number;
  stages: Stage[];
}

const MULT32 = 65536 * 65536;
/** libsoxr's SOXR_HQ recipe: 20-bit precision. */
const PRECISION_BITS = 20;
/** ((ceil(bits) - 6) / 4) in soxr: selects the polyphase filter family. */
const MODE = Math.trunc((Math.ceil(PRECISION_BITS) - 6) / 4);
/** Memory soxr allows for a polyphase coefficient table before it interpolates more coarsely (kB). */
const COEF_SIZE_KBYTES = 400;
/** soxr's single-precision SIMD core stores coefficients as float32 in groups of 4. */
const SIZEOF_REAL = 4;

/** Pass-band end of the HQ recipe: 1 - 0.05 / (3 dB point of a 120 dB filter) = 0.91374... */
export const HQ_PASSBAND_END = (() => {
  const rej = PRECISION_BITS * linearToDb(2);
  return 1 - 0.05 / (1 - invFreqResponse(-3, rej));
})();
const STOPBAND_BEGIN = 1;

/** Interpolation families soxr uses at mode 3 (20-bit): phase-bit scalars for coefficient interpolation orders 1 and 2. */
const POLY_FAMILIES: Record<number, readonly [number, number]> = {
  2: [12.4, 7.8], // downsampling
  8: [10.6, 6.75], // downsampling with a 2x pre-decimation
  15: [11, 7], // upsampling
};

/** soxr's fixed half-band decimators (half_fir_coefs_8 and _9) and the attenuation each reaches. */
const HALF_BANDS: ReadonlyArray<{ att: number; coefs: readonly number[] }> = [
  {
    att: 136.51,
    coefs: [
      3.1154652365332069e-1, -8.7344917685739543e-2, 3.681445835363728e-2, -1.5189204581464479e-2,
      5.4540855610738801e-3, -1.5643862626630416e-3, 3.1816575906323303e-4, -3.4799449225005688e-5,
    ],
  },
  {
    att: 152.32,
    coefs: [
      3.1227034755311189e-1, -8.9221517147969526e-2, 3.9139704015071934e-2, -1.7250558515852023e-2,
      6.8589440230476112e-3, -2.3045049636430419e-3, 6.0963740543348963e-4, -1.1323803957431231e-4,
      1.1197769991000046e-5,
    ],
  },
];

const isPow2 = (x: number) => x >= 2 && (x & (x - 1)) === 0;

function firStage(fp: number, fs: number, fn: number, att: number, L: number, M: number): FirStage {
  const k = isPow2(L) && fn === L ? L << 1 : 4;
  const d = lowPassParams({ fp, fs, fn, att, k: -k });
  const h = makeLowPass(d);
  for (let i = 0; i < h.length; i++) h[i] *= L;
  return { kind: 'fir', L, M, h };
}

/** Plans soxr-HQ resampling for `ioRatio` = input rate / output rate. */
export function planResample(ioRatio: number): ResamplePlan {
  if (!(ioRatio > 0) || !Number.isFinite(ioRatio)) throw new RangeError(`bad resampling ratio ${ioRatio}`);
  const Fp0 = HQ_PASSBAND_END;
  const Fs0 = STOPBAND_BEGIN;
  let att = (PRECISION_BITS + 1) * linearToDb(2); // +1 bit: pass-band and stop-band ripple share the budget
  let attArb = att;

  // --- Which stages (a port of the stage-selection loop in soxr's _soxr_init). ---
  let arbM = ioRatio;
  let preL = 1;
  let preM = 1;
  let shr = 0;
  let arbL = 1;
  let postL = 1;
  let postM = 1;
  let upsample = false;
  let rational = false;
  for (let n = 0; !n++; ) {
    const maxL = 2048;
    let epsilon = 0;
    upsample = arbM < 1;
    shr = 0;
    for (let i = Math.trunc(0.5 * arbM); (i >>= 1); arbM *= 0.5, ++shr);
    preM = upsample || (arbM > 1.5 && arbM < 2) ? 1 : 0;
    postM = 1 + (arbM > 1 && preM ? 1 : 0);
    arbM /= postM;
    preL = 1 + (!preM && arbM < 2 ? 1 : 0) + (upsample && MODE ? 1 : 0);
    arbM *= preL;
    const frac = arbM - Math.trunc(arbM);
    if (frac !== 0) epsilon = Math.abs(Math.floor(frac * MULT32 + 0.5) / (frac * MULT32) - 1);
    rational = frac === 0;
    for (let i = 1; i <= maxL && !rational; ++i) {
      const d = frac * i;
      const tr = Math.trunc(d + 0.5);
      rational = Math.abs(tr / d - 1) <= epsilon;
      if (rational) {
        if (tr === i) {
          arbM = Math.ceil(arbM);
          const x = arbM > 3 ? 1 : 0;
          shr += x;
          arbM /= 1 + x;
        } else {
          arbM = i * Math.trunc(arbM) + tr;
          arbL = i;
        }
      }
    }
    let L = preL * arbL;
    let M = Math.trunc(arbM * postM);
    if (!((L | M) & 1)) {
      L >>= 1;
      M >>= 1;
    }
    const d = (preL * arbL) / arbM;
    if (postL === 1 && d > 4 && d !== 5) {
      postL = 4;
      for (let i = Math.trunc(d / 16); (i >>= 1) && postL < 256; postL <<= 1);
      arbM = (arbM * postL) / arbL / preL;
      arbL = 1;
      n = 0;
    } else if (rational && (Math.max(L, M) < 5 || L * M < 6)) {
      preL = L;
      preM = M;
      arbM = arbL = postM = 1;
    }
  }
  const havePre = preM * preL !== 1;
  const haveArb = arbM * arbL !== 1;
  const havePost = postM * postL !== 1;
  const numStages = shr + +havePre + +haveArb + +havePost;
  const stages: Stage[] = [];
  if (numStages === 0) return { ioRatio, stages };

  // --- Attenuation budget: the stages' stop-band leaks add up. ---
  if (numStages > 1) {
    let n = numStages;
    if (haveArb) {
      att += linearToDb(2);
      attArb = att;
      --n;
    }
    att += linearToDb(n);
  }
  const alpha = postM / (ioRatio * postL);

  const half = HALF_BANDS.find((hb) => att <= hb.att) ?? HALF_BANDS[HALF_BANDS.length - 1]!;
  for (let i = 0; i < shr; i++) stages.push({ kind: 'half', coefs: Float64Array.from(half.coefs) });

  let Fp1 = Fp0;
  let Fs1 = Fs0;
  if (havePre) {
    const Fn1 = preM ? Math.max(preL, preM) : arbM / arbL;
    stages.push(firStage(Fp1, Fs1, Fn1, att, preL, Math.max(preM, 1)));
    Fp1 /= Fn1;
    Fs1 /= Fn1;
  }

  if (haveArb) {
    const family = POLY_FAMILIES[6 * (+upsample + +!!preM) + MODE - +!upsample];
    if (!family) throw new Error('no polyphase family for this ratio');
    const mult = upsample ? 1 : arbM / arbL;
    let Fn: number;
    let Fs: number;
    if (!upsample && preM) {
      Fn = 2 * mult;
      Fs = 3 + Math.abs(Fs1 - 1);
    } else {
      Fn = 1;
      Fs = 2 - (Fp1 + (Fs1 - Fp1) * 0.7);
    }
    // Rolloff 'small': at most 0.01 dB of droop at the pass-band end.
    const Fp = Fs - (Fs - Fp1) / (1 - invFreqResponse(-0.01, attArb));

    let taps = 0;
    let phases = 0;
    let order = 0;
    let phase0 = 0;
    // Order 0 (exact phases) when rational; otherwise coefficient interpolation, coarser
    // (higher order, fewer phases) while the table would exceed soxr's memory budget.
    let i = (rational ? 0 : 1) - 1;
    for (;;) {
      ++i;
      if (i) {
        arbM /= arbL;
        arbL = 1;
        rational = false;
      }
      const scalar = i === 0 ? 0 : family[i - 1]!;
      const phaseBits = Math.ceil(scalar - Math.log(mult) / Math.log(2));
      phases = !rational ? 1 << phaseBits : arbL;
      const phases0 = Math.max(phases, 19);
      const n0 = lowPassParams({ fp: Fp, fs: Fs, fn: Fn, att: attArb, k: phases0 }).taps;
      taps = Math.trunc(n0 / phases0) + 1;
      taps += taps & (preM ? 0 : 1);
      if (taps & 1 && rational && arbL & 1) {
        phases <<= 1;
        arbL <<= 1;
        arbM *= 2;
      }
      phase0 = 0.5 * (taps & 1);
      order = i;
      const taps4 = (taps + 3) & ~3;
      const coefsSize = taps4 * phases * (order + 1) * SIZEOF_REAL;
      if (!(i < 2 && Math.trunc(coefsSize / 1000) > COEF_SIZE_KBYTES)) break;
    }
    const d = lowPassParams({ fp: Fp, fs: Fs, fn: Fn, att: attArb, k: phases, taps: taps * phases - 1 });
    const h = makeLowPass(d);
    if (order === 0) {
      stages.push({ kind: 'poly', taps, phases, order, at0: arbL * phase0, step: arbM, h });
    } else {
      // soxr's 32.32 fixed-point clock.
      const step = Math.floor(arbM * MULT32 + 0.5) / MULT32;
      stages.push({ kind: 'poly', taps, phases, order, at0: phase0, step, h });
    }
  }

  if (havePost) {
    stages.push(
      firStage(
        Fp0 / (upsample ? alpha : 1),
        upsample ? Math.max(2 - Fs0 / alpha, 1) : Fs0,
        Math.max(postL, postM),
        att,
        postL,
        postM,
      ),
    );
  }
  return { ioRatio, stages };
}
