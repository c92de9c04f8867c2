/**
 * Synthetic "speech" for the demo pipeline: a source-filter model with emotion-dependent prosody.
 *
 * Each clip is a train of syllables. The voice source is a Rosenberg glottal pulse train whose
 * pitch follows a class-dependent level, range and contour, with per-period jitter and shimmer,
 * aspiration noise (breathiness) and a one-pole spectral tilt; it passes through four formant
 * resonators gliding between vowel targets, scaled per speaker. Classes differ in pitch level,
 * range and contour, loudness, tempo, tilt, breathiness and jitter; every clip draws its own
 * values around the class profile and speakers differ in base pitch and vocal-tract length, so
 * classes overlap and a model has something to learn. It is NOT speech: nothing learned on it
 * says anything about real emotion recognition.
 */
import { Rng } from '../util/rng.js';

export type Contour = 'fall' | 'rise' | 'risefall' | 'tremor';

/** Prosodic and voice-quality targets of one class; clips scatter around them. */
export interface ClassProfile {
  /** Multiplies the speaker's base pitch. */
  pitchScale: number;
  /** Pitch excursion of the utterance contour, semitones. */
  rangeSt: number;
  contour: Contour;
  /** Per-period relative pitch perturbation (standard deviation). */
  jitter: number;
  /** Per-period relative amplitude perturbation. */
  shimmer: number;
  /** Level relative to neutral, dB. */
  loudnessDb: number;
  /** Syllables per second. */
  tempo: number;
  /** One-pole low-pass coefficient on the source: higher = steeper tilt (softer, darker voice). */
  tilt: number;
  /** Aspiration noise relative to the voiced source. */
  breath: number;
  /** Formant frequency multiplier (smiling raises formants, a lowered larynx lowers them). */
  formantShift: number;
}

/** Profiles of the eight RAVDESS emotion names; loosely after the acoustic correlates in the literature. */
export const EMOTION_PROFILES: Record<string, ClassProfile> = {
  neutral: { pitchScale: 1.0, rangeSt: 2.0, contour: 'fall', jitter: 0.005, shimmer: 0.03, loudnessDb: 0, tempo: 4.0, tilt: 0.7, breath: 0.05, formantShift: 1.0 },
  calm: { pitchScale: 0.95, rangeSt: 1.5, contour: 'fall', jitter: 0.005, shimmer: 0.03, loudnessDb: -3, tempo: 3.4, tilt: 0.8, breath: 0.1, formantShift: 0.99 },
  happy: { pitchScale: 1.2, rangeSt: 5.0, contour: 'risefall', jitter: 0.008, shimmer: 0.04, loudnessDb: 3, tempo: 4.6, tilt: 0.55, breath: 0.05, formantShift: 1.05 },
  sad: { pitchScale: 0.9, rangeSt: 1.2, contour: 'fall', jitter: 0.015, shimmer: 0.06, loudnessDb: -6, tempo: 3.0, tilt: 0.85, breath: 0.2, formantShift: 0.97 },
  angry: { pitchScale: 1.15, rangeSt: 4.0, contour: 'fall', jitter: 0.01, shimmer: 0.05, loudnessDb: 7, tempo: 4.8, tilt: 0.35, breath: 0.04, formantShift: 1.02 },
  fearful: { pitchScale: 1.35, rangeSt: 3.0, contour: 'tremor', jitter: 0.02, shimmer: 0.07, loudnessDb: -1, tempo: 5.3, tilt: 0.65, breath: 0.18, formantShift: 1.0 },
  disgust: { pitchScale: 0.88, rangeSt: 3.0, contour: 'risefall', jitter: 0.015, shimmer: 0.08, loudnessDb: -1, tempo: 3.3, tilt: 0.7, breath: 0.12, formantShift: 0.96 },
  surprised: { pitchScale: 1.3, rangeSt: 7.0, contour: 'rise', jitter: 0.008, shimmer: 0.04, loudnessDb: 4, tempo: 4.2, tilt: 0.5, breath: 0.06, formantShift: 1.03 },
};

/** A class without a named profile gets one derived from its name, so any class list works. */
export function profileFor(label: string): ClassProfile {
  const known = EMOTION_PROFILES[label];
  if (known) return known;
  const r = new Rng('synth-profile:' + label);
  const contours: Contour[] = ['fall', 'rise', 'risefall', 'tremor'];
  return {
    pitchScale: r.uniform(0.85, 1.35), rangeSt: r.uniform(1, 7), contour: contours[r.int(4)]!,
    jitter: r.uniform(0.004, 0.02), shimmer: r.uniform(0.03, 0.08), loudnessDb: r.uniform(-6, 7),
    tempo: r.uniform(3, 5.5), tilt: r.uniform(0.35, 0.85), breath: r.uniform(0.04, 0.2), formantShift: r.uniform(0.96, 1.05),
  };
}

/** A synthetic speaker: base pitch and vocal-tract scaling. */
export interface SynthSpeaker {
  id: string;
  gender: 'male' | 'female';
  f0: number;
  formantScale: number;
  /** Speaker's habitual level, dB. */
  levelDb: number;
}

/** Speakers alternate male/female (as RAVDESS actors do: odd male, even female). */
export function makeSpeakers(count: number, rng: Rng): SynthSpeaker[] {
  const out: SynthSpeaker[] = [];
  for (let i = 0; i < count; i++) {
    const r = rng.derive('speaker/' + i);
    const male = i % 2 === 0;
    out.push({
      id: `s${String(i + 1).padStart(2, '0')}`,
      gender: male ? 'male' : 'female',
      f0: male ? r.uniform(95, 135) : r.uniform(180, 240),
      formantScale: male ? r.uniform(0.93, 1.0) : r.uniform(1.07, 1.15),
      levelDb: r.uniform(-2, 2),
    });
  }
  return out;
}

/** Formant frequencies (Hz) and bandwidths of five vowels for an adult male vocal tract. */
const VOWELS: { f: [number, number, number, number] }[] = [
  { f: [730, 1090, 2440, 3400] }, // a
  { f: [530, 1840, 2480, 3500] }, // e
  { f: [270, 2290, 3010, 3700] }, // i
  { f: [570, 840, 2410, 3300] }, // o
  { f: [300, 870, 2240, 3300] }, // u
];
const BANDWIDTHS = [80, 100, 140, 200];
/** Formant coefficients are refreshed every this many samples (the glides are slow). */
const BLOCK = 64;
/** Samples per tabulated glottal period (finer than one 48 kHz sample for any f0 above 24 Hz). */
const PULSE_TABLE = 2048;

export interface ClipOptions {
  sampleRate: number;
  durationS: number;
  /**
   * How far a clip's prosody and voice quality scatter around its class profile: 1 (default) is
   * the tuned spread, 0 makes every clip of a class and speaker alike in those respects (syllables,
   * vowels and noise still vary), 2 doubles the spread (a harder task).
   */
  variation?: number;
}

/**
 * One clip of `durationS` seconds as float samples in about [-1, 1]. Pure function of its
 * arguments: the same rng seed gives the same samples.
 */
export function synthesizeClip(profile: ClassProfile, speaker: SynthSpeaker, opts: ClipOptions, rng: Rng): Float32Array {
  const fs = opts.sampleRate;
  const n = Math.round(opts.durationS * fs);
  const out = new Float32Array(n);

  // Clip-level draws around the class profile.
  const v = opts.variation ?? 1;
  /** A factor 1 ± spread (scaled by `variation`); draws the same numbers whatever `variation` is. */
  const around = (spread: number) => 1 + v * rng.uniform(-spread, spread);
  const f0Base = speaker.f0 * profile.pitchScale * Math.exp(v * 0.06 * rng.normal());
  const rangeSt = profile.rangeSt * around(0.3);
  const tempo = profile.tempo * around(0.15);
  const jitter = profile.jitter * around(0.3);
  const shimmer = profile.shimmer * around(0.3);
  const tilt = Math.min(0.95, Math.max(0.1, profile.tilt + v * rng.uniform(-0.08, 0.08)));
  const breath = profile.breath * around(0.3);
  const formantScale = speaker.formantScale * profile.formantShift * around(0.02);
  const gain = 0.05 * Math.pow(10, (profile.loudnessDb + speaker.levelDb + v * rng.uniform(-1.5, 1.5)) / 20);
  const tremorHz = rng.uniform(5, 7);
  const openQuotient = rng.uniform(0.5, 0.7);

  // Utterance placement and syllables.
  const start = rng.uniform(0.05, 0.2);
  const end = opts.durationS - rng.uniform(0.05, 0.2);
  const sylLen = 1 / tempo;
  const nSyl = Math.max(1, Math.floor((end - start) / sylLen));
  const sylVowel: number[] = [];
  const sylStress: number[] = [];
  for (let s = 0; s < nSyl; s++) {
    sylVowel.push(rng.int(VOWELS.length));
    sylStress.push(rng.uniform(0.6, 1));
  }
  const uttLen = nSyl * sylLen;

  /** Pitch contour in semitones at utterance position u in [0, 1]. */
  const contourSt = (u: number): number => {
    switch (profile.contour) {
      case 'fall': return rangeSt * (0.5 - u);
      case 'rise': return rangeSt * (u * u - 0.3);
      case 'risefall': return rangeSt * (Math.sin(Math.PI * u) - 0.5);
      case 'tremor': return rangeSt * 0.3 * (0.5 - u) + 0.8 * Math.sin(2 * Math.PI * tremorHz * u * uttLen);
    }
  };

  // One period of the Rosenberg pulse (opening 2/3, closing 1/3 of the open phase), tabulated.
  const tp = openQuotient * 0.66;
  const pulseTable = new Float64Array(PULSE_TABLE + 1);
  for (let j = 0; j <= PULSE_TABLE; j++) {
    const ph = j / PULSE_TABLE;
    pulseTable[j] = ph < tp ? 0.5 * (1 - Math.cos((Math.PI * ph) / tp))
      : ph < openQuotient ? Math.cos((0.5 * Math.PI * (ph - tp)) / (openQuotient - tp)) : 0;
  }
  const syllableAt = (t: number) => {
    const ps = (t - start) / sylLen;
    return { syl: Math.min(nSyl - 1, Math.max(0, Math.floor(ps))), sp: ps - Math.floor(ps) };
  };
  /** Voiced nucleus with smooth edges and a short gap between syllables; 0 outside the utterance. */
  const envelopeAt = (t: number): number => {
    if (t < start || t >= start + uttLen) return 0;
    const { syl, sp } = syllableAt(t);
    return sp < 0.75 ? Math.sin((Math.PI * sp) / 0.75) ** 0.7 * sylStress[syl]! : 0;
  };
  const f0At = (t: number): number => {
    const u = Math.min(1, Math.max(0, (t - start) / uttLen));
    const { syl, sp } = syllableAt(t);
    const accent = sylStress[syl]! > 0.9 ? 0.5 * Math.sin(Math.PI * Math.min(1, sp / 0.75)) : 0;
    return f0Base * Math.pow(2, (contourSt(u) + accent) / 12);
  };

  // Filter state: four two-pole resonators, unrolled (this loop is the generator's hot path).
  let tiltY = 0;
  const fb1 = new Float64Array(4);
  const fb2 = new Float64Array(4);
  const fg = new Float64Array(4);
  let a1 = 0, a2 = 0, b1 = 0, b2 = 0, c1 = 0, c2 = 0, d1 = 0, d2 = 0;
  let prevPulse = 0;
  let phase = 0;
  let periodF0Mul = 1;
  let periodAmp = 1;
  let noiseLp = 0;

  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    // Formant targets for this block: glide between the vowels of neighbouring syllables.
    const tBlock = i0 / fs;
    const posSyl = (tBlock - start) / sylLen;
    const sIdx = Math.min(nSyl - 1, Math.max(0, Math.floor(posSyl)));
    const frac = Math.min(1, Math.max(0, posSyl - sIdx));
    const nextIdx = Math.min(nSyl - 1, sIdx + 1);
    const glide = frac < 0.6 ? 0 : (frac - 0.6) / 0.4;
    for (let k = 0; k < 4; k++) {
      const f = ((1 - glide) * VOWELS[sylVowel[sIdx]!]!.f[k]! + glide * VOWELS[sylVowel[nextIdx]!]!.f[k]!) * formantScale;
      const freq = Math.min(f, fs * 0.45);
      const r = Math.exp((-Math.PI * BANDWIDTHS[k]!) / fs);
      fb1[k] = 2 * r * Math.cos((2 * Math.PI * freq) / fs);
      fb2[k] = -r * r;
      fg[k] = 1 - r; // roughly unit peak gain, keeps the cascade in range
    }
    const [g0, g1, g2, g3] = fg;
    const [p0, p1, p2, p3] = fb1;
    const [q0, q1, q2, q3] = fb2;
    // Pitch and envelope change slowly: evaluate them per block, interpolate the envelope.
    const i1 = Math.min(n, i0 + BLOCK);
    const envA = envelopeAt(tBlock);
    const envB = envelopeAt(i1 / fs);
    const blockF0 = f0At(tBlock);
    const spBlock = syllableAt(tBlock).sp;
    const fricGain = tBlock >= start && tBlock < start + uttLen && spBlock >= 0.78 && spBlock < 0.95 ? 0.04 : 0;
    const inUtterance = tBlock + BLOCK / fs > start && tBlock < start + uttLen;
    for (let i = i0; i < i1; i++) {
      let sample = 0;
      if (inUtterance) {
        const env = envA + ((envB - envA) * (i - i0)) / BLOCK;
        phase += (blockF0 * periodF0Mul) / fs;
        if (phase >= 1) {
          phase -= 1;
          periodF0Mul = 1 + jitter * rng.normal();
          periodAmp = 1 + shimmer * rng.normal();
        }
        // The pulse's first difference models lip radiation.
        const pulse = pulseTable[(phase * PULSE_TABLE) | 0]!;
        const voiced = (pulse - prevPulse) * 20 * periodAmp;
        prevPulse = pulse;
        const white = rng.next() + rng.next() - 1;
        const aspiration = breath * white * (0.5 + pulse);
        // Fricative-like noise in the syllable gaps (consonants).
        noiseLp = 0.3 * noiseLp + white;
        sample = (voiced + aspiration) * env + fricGain * (white - 0.3 * noiseLp);
      } else {
        prevPulse = 0;
      }
      tiltY = (1 - tilt) * sample + tilt * tiltY;
      // Each stage passes on a little of its input (0.3) so higher formants stay audible.
      const x0 = tiltY * (1 + 3 * tilt); // partially undo the level loss of a steep tilt
      const v0 = g0 * x0 + p0 * a1 + q0 * a2;
      a2 = a1;
      a1 = v0;
      const x1 = v0 + 0.3 * x0;
      const v1 = g1 * x1 + p1 * b1 + q1 * b2;
      b2 = b1;
      b1 = v1;
      const x2 = v1 + 0.3 * x1;
      const v2 = g2 * x2 + p2 * c1 + q2 * c2;
      c2 = c1;
      c1 = v2;
      const x3 = v2 + 0.3 * x2;
      const v3 = g3 * x3 + p3 * d1 + q3 * d2;
      d2 = d1;
      d1 = v3;
      const y = v3 + 0.3 * x3;
      out[i] = y;
    }
  }

  // Level: scale the utterance to the drawn loudness, then add a quiet noise floor.
  let energy = 0;
  for (let i = 0; i < n; i++) energy += out[i]! * out[i]!;
  const rms = Math.sqrt(energy / n) || 1;
  const floor = 0.0005 * rng.uniform(0.5, 2);
  for (let i = 0; i < n; i++) {
    const v = (out[i]! / rms) * gain + floor * (rng.next() + rng.next() - 1);
    out[i] = v > 0.99 ? 0.99 : v < -0.99 ? -0.99 : v;
  }
  return out;
}
