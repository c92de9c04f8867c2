/**
 * Silence trimming at the clip edges, as librosa.effects.trim(y, top_db, ref=np.max,
 * frame_length, hop_length): frame RMS of the centred, zero-padded signal, in dB relative to the
 * loudest frame; the clip is cut from the first to just after the last frame above -top_db
 * (frame f starts at sample f * hop_length, as librosa.frames_to_samples).
 */

export interface TrimOptions {
  /** Frames quieter than this many dB below the loudest frame are silence (librosa default 60). */
  topDb: number;
  /** RMS window in samples (librosa default 2048). */
  frameLength: number;
  /** Hop between RMS frames in samples (librosa default 512). */
  hopLength: number;
}

export const DEFAULT_TRIM: TrimOptions = { topDb: 60, frameLength: 2048, hopLength: 512 };

/** amplitude_to_db's amin (1e-5), squared: power_to_db works on rms^2. */
const AMIN_POWER = 1e-10;

/** [start, end) of the non-silent part of `y`, exactly the interval librosa.effects.trim returns. */
export function trimInterval(y: ArrayLike<number>, o: TrimOptions = DEFAULT_TRIM): [number, number] {
  const { frameLength, hopLength, topDb } = o;
  if (!(Number.isInteger(frameLength) && frameLength > 0 && Number.isInteger(hopLength) && hopLength > 0)) {
    throw new RangeError(`trim: frameLength and hopLength must be positive integers, got ${frameLength}, ${hopLength}`);
  }
  if (!(topDb >= 0)) throw new RangeError(`trim: topDb must be >= 0, got ${topDb}`);
  const n = y.length;
  if (n === 0) return [0, 0];
  // Prefix sums of y^2 (float64): the mean square of any padded frame in O(1).
  const sq = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) sq[i + 1] = sq[i]! + y[i]! * y[i]!;
  const half = frameLength >> 1;
  // librosa.util.frame on the padded signal (n + 2 * half samples).
  const frames = Math.floor((n + 2 * half - frameLength) / hopLength) + 1;
  if (frames <= 0) return [0, 0];
  const power = new Float64Array(frames);
  let maxPower = 0;
  for (let t = 0; t < frames; t++) {
    const a = Math.max(0, t * hopLength - half);
    const b = Math.min(n, t * hopLength - half + frameLength);
    const p = b > a ? Math.max(0, sq[b]! - sq[a]!) / frameLength : 0;
    power[t] = p;
    if (p > maxPower) maxPower = p;
  }
  const refDb = 10 * Math.log10(Math.max(AMIN_POWER, maxPower));
  let first = -1;
  let last = -1;
  for (let t = 0; t < frames; t++) {
    const db = 10 * Math.log10(Math.max(AMIN_POWER, power[t]!)) - refDb;
    if (db > -topDb) {
      if (first < 0) first = t;
      last = t;
    }
  }
  if (first < 0) return [0, 0];
  return [first * hopLength, Math.min(n, (last + 1) * hopLength)];
}

/** librosa.effects.trim(y, ...)[0]: a view of the non-silent part (no copy). */
export function trimSilence<T extends Float32Array | Float64Array>(y: T, o: TrimOptions = DEFAULT_TRIM): T {
  const [start, end] = trimInterval(y, o);
  return y.subarray(start, end) as T;
}
