/**
 * Per-speaker mean/variance normalisation (mfcc `cmvn: speaker`): every feature dimension is
 * centred and scaled by the statistics of all frames of the clips in its group (a speaker, or one
 * augmented copy of a speaker's clips), so that a voice's own level, pitch range and timbre are
 * taken out and what is left is how this clip departs from that speaker's usual. Padding frames
 * (beyond each clip's `valid` count) are neither counted nor changed: they stay zero.
 * A clip with no group around it (one file given to predict, the browser) is normalised by the
 * average training speaker's statistics (averageSpeaker), recorded in the model's front end.
 */

export interface FeatureRows {
  /** Row-major [rows, frames, dims]. Normalised in place. */
  data: Float32Array | Float64Array;
  frames: number;
  dims: number;
  /** Frames of each row that come from its clip. */
  valid: ArrayLike<number>;
}

/** Per-dimension mean and (population) standard deviation. */
export interface FeatureStats {
  mean: number[];
  std: number[];
}

/** Row indices of each group; rows whose group is null belong to none. */
function membersOf(groupOf: readonly (string | null)[]): Map<string, number[]> {
  const members = new Map<string, number[]>();
  groupOf.forEach((g, i) => {
    if (g === null) return;
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });
  return members;
}

/** Statistics of each group's valid frames; `groupOf[i]` names row i's group (null: none). */
export function groupStats(x: FeatureRows, groupOf: readonly (string | null)[]): Map<string, FeatureStats> {
  const { data, frames, dims, valid } = x;
  const rowSize = frames * dims;
  const out = new Map<string, FeatureStats>();
  for (const [group, rows] of membersOf(groupOf)) {
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
    const mean = Array.from(sum, (s) => s / count);
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
    out.set(group, { mean, std: Array.from(sq, (s) => Math.sqrt(s / count)) });
  }
  return out;
}

/**
 * The average speaker: mean of the speakers' means, root mean square of their deviations. Unlike
 * pooled statistics it leaves out the spread between voices, which per-speaker normalisation removes.
 */
export function averageSpeaker(speakers: readonly FeatureStats[]): FeatureStats {
  const dims = speakers[0]?.mean.length ?? 0;
  const n = Math.max(1, speakers.length);
  return {
    mean: Array.from({ length: dims }, (_, d) => speakers.reduce((a, s) => a + s.mean[d]!, 0) / n),
    std: Array.from({ length: dims }, (_, d) => Math.sqrt(speakers.reduce((a, s) => a + s.std[d]! ** 2, 0) / n)),
  };
}

/** Normalises rows `rows` (all when omitted) of `x` with `stats`, in place. */
export function normaliseWith(x: FeatureRows, stats: FeatureStats, rows?: Iterable<number>): void {
  const { data, frames, dims, valid } = x;
  const rowSize = frames * dims;
  // As normaliseUtterance: a (near-)constant dimension is centred, not scaled up.
  const scale = stats.std.map((s) => (s > 1e-6 ? 1 / s : 1));
  for (const r of rows ?? Array.from(valid, (_, i) => i)) {
    const n = Math.min(frames, valid[r]!);
    for (let t = 0; t < n; t++) {
      const base = r * rowSize + t * dims;
      for (let d = 0; d < dims; d++) data[base + d] = (data[base + d]! - stats.mean[d]!) * scale[d]!;
    }
  }
}

/** Normalises every row by the statistics of its group; `groupOf[i]` names row i's group. */
export function normaliseGroups(x: FeatureRows, groupOf: readonly string[]): void {
  const stats = groupStats(x, groupOf);
  for (const [g, rows] of membersOf(groupOf)) {
    const s = stats.get(g);
    if (s) normaliseWith(x, s, rows);
  }
}
