/**
 * The speech span of a clean, short clip: from the first to the last 10 ms frame whose energy is
 * within `topDb` (30) of the clip's loudest frame (librosa.effects.trim's rule), ignoring the
 * clip's first and last `edgeS` (0.3 s), where recordings like RAVDESS's carry fade clicks. Used to
 * build recordings with known speech boundaries for tests and the VAD comparison, not as a
 * detector: it needs the whole clip and assumes one utterance in quiet.
 */
export function speechSpan(y: Float32Array, rate: number, topDb = 30, edgeS = 0.3): { start: number; end: number } {
  const hop = Math.round(0.01 * rate);
  const frame = 2 * hop;
  const edge = Math.round(edgeS / 0.01);
  const db: number[] = [];
  for (let s = 0; s + frame <= y.length; s += hop) {
    let a = 0;
    for (let i = s; i < s + frame; i++) a += y[i]! * y[i]!;
    db.push(10 * Math.log10(a / frame + 1e-12));
  }
  const inner = db.length > 2 * edge ? [edge, db.length - edge] : [0, db.length];
  let peak = -Infinity;
  for (let i = inner[0]!; i < inner[1]!; i++) peak = Math.max(peak, db[i]!);
  let first = -1;
  let last = -1;
  for (let i = inner[0]!; i < inner[1]!; i++) {
    if (db[i]! >= peak - topDb) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return { start: 0, end: 0 };
  return { start: first * hop, end: Math.min(y.length, last * hop + frame) };
}
