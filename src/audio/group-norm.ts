/**
 * Per-speaker mean/variance normalisation (mfcc `cmvn: speaker`): every feature dimension is
 * centred and scaled by the statistics of all frames of the clips in its group (a speaker, or one
 * augmented copy of a speaker's clips), so that a voice's own level, pitch range and timbre are
 * taken out and what is left is how this clip departs from that speaker's usual. Padding frames
 * (beyond each clip's `valid` count) are neither counted nor changed: they stay zero.
 * A group of one clip gives what cmvn: utterance gives (up to float32 rounding of the input).
 */

export interface FeatureRows {
  /** Row-major [rows, frames, dims]. Normalised in place. */
  data: Float32Array;
  frames: number;
  dims: number;
  /** Frames of each row that come from its clip. */
  valid: ArrayLike<number>;
}

/** Normalises every row by the statistics of its group; `groupOf[i]` names row i's group. */
export function normaliseGroups(x: FeatureRows, groupOf: readonly string[]): void {
  const { data, frames, dims, valid } = x;
  const rowSize = frames * dims;
  const members = new Map<string, number[]>();
  groupOf.forEach((g, i) => {
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });
  for (const rows of members.values()) {
    const sum = new Float64Array(dims);
    const sq = new Float64Array(dims);
    let count = 0;
    for (const r of rows) {
      const n = Math.min(frames, valid[r]!);
      count += n;
      for (let t = 0; t < n; t++) {
        const base = r * rowSize + t * dims;
        for (let d = 0; d < dims; d++) sum[d]! += data[base + d]!;
      }
    }
    if (count === 0) continue;
    const mean = sum.map((s) => s / count);
    for (const r of rows) {
      const n = Math.min(frames, valid[r]!);
      for (let t = 0; t < n; t++) {
        const base = r * rowSize + t * dims;
        for (let d = 0; d < dims; d++) {
          const v = data[base + d]! - mean[d]!;
          sq[d]! += v * v;
        }
      }
    }
    // As normaliseUtterance: a (near-)constant dimension is centred, not scaled up.
    const scale = sq.map((s) => {
      const std = Math.sqrt(s / count);
      return std > 1e-6 ? 1 / std : 1;
    });
    for (const r of rows) {
      const n = Math.min(frames, valid[r]!);
      for (let t = 0; t < n; t++) {
        const base = r * rowSize + t * dims;
        for (let d = 0; d < dims; d++) data[base + d] = (data[base + d]! - mean[d]!) * scale[d]!;
      }
    }
  }
}
