/**
 * librosa.feature.delta(data, width, order, axis=time, mode='interp'), i.e.
 * scipy.signal.savgol_filter(data, width, deriv=order, polyorder=order, mode='interp'), for
 * order 1 and 2. Inside, each value is the order-th derivative at the window's centre of the
 * least-squares polynomial of degree `order`; in 'interp' mode the first and last width/2
 * frames take the derivative of the polynomial fitted to the first / last `width` frames, which
 * for deriv = polyorder is a constant: the value at the first / last full window.
 * One deviation: librosa refuses a series shorter than `width`; here the width shrinks to the
 * largest odd width that fits (>= 3), and a series of fewer than 3 frames gets zeros, so a very
 * short (e.g. trimmed) clip still featurises.
 */

/** Filter taps c[k], k = -half..half, with delta[t] = sum_k c[k] * x[t + k]. */
export function deltaCoefficients(width: number, order: 1 | 2): Float64Array {
  if (!Number.isInteger(width) || width < 3 || width % 2 === 0) throw new RangeError(`delta: width must be an odd integer >= 3, got ${width}`);
  const half = (width - 1) / 2;
  let s2 = 0;
  let s4 = 0;
  for (let k = -half; k <= half; k++) {
    s2 += k * k;
    s4 += k ** 4;
  }
  const c = new Float64Array(width);
  for (let k = -half; k <= half; k++) {
    // Orthogonal polynomials on the symmetric window: slope k / s2; curvature 2 (k^2 - s2/w) / sum (k^2 - s2/w)^2.
    c[k + half] = order === 1 ? k / s2 : (2 * (k * k - s2 / width)) / (s4 - (s2 * s2) / width);
  }
  return c;
}

/**
 * Delta features of `x` (frames x dims, row-major) along time: frames x dims, float64.
 */
export function deltaFrames(x: ArrayLike<number>, frames: number, dims: number, order: 1 | 2, width = 9): Float64Array {
  const out = new Float64Array(frames * dims);
  let w = Math.min(width, frames % 2 === 1 ? frames : frames - 1);
  if (w < 3) return out;
  if (w % 2 === 0) w--;
  const c = deltaCoefficients(w, order);
  const half = (w - 1) / 2;
  for (let t = half; t < frames - half; t++) {
    for (let d = 0; d < dims; d++) {
      let acc = 0;
      for (let k = -half; k <= half; k++) acc += c[k + half]! * x[(t + k) * dims + d]!;
      out[t * dims + d] = acc;
    }
  }
  // 'interp' edges: the derivative of the edge window's fit, constant for deriv = polyorder.
  for (let t = 0; t < half; t++) {
    out.copyWithin(t * dims, half * dims, (half + 1) * dims);
    const tail = frames - 1 - t;
    out.copyWithin(tail * dims, (frames - 1 - half) * dims, (frames - half) * dims);
  }
  return out;
}
