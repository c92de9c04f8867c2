/** Keras-default initialisers, drawn from the seeded Rng so a seed fixes the starting weights. */
import type { Rng } from '../util/rng.js';
import type { ParamSpec, StatSpec } from './layers.js';
import type { ModelLayout } from './model-graphs.js';

function glorotUniform(rng: Rng, out: Float32Array, fanIn: number, fanOut: number): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-limit, limit);
}

/**
 * Keras Orthogonal (gain 1) for a [rows, cols] matrix: QR of a normal matrix of the taller
 * orientation, columns sign-corrected by diag(R), transposed back when rows < cols.
 */
function orthogonal(rng: Rng, out: Float32Array, rows: number, cols: number): void {
  const n = Math.max(rows, cols);
  const k = Math.min(rows, cols);
  // a: n x k, column-major columns for modified Gram-Schmidt (equivalent to Householder QR up to signs,
  // which the diag(R) correction fixes).
  const q: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const col = new Float64Array(n);
    for (let i = 0; i < n; i++) col[i] = rng.normal();
    q.push(col);
  }
  for (let j = 0; j < k; j++) {
    const v = q[j]!;
    for (let p = 0; p < j; p++) {
      const u = q[p]!;
      let dot = 0;
      for (let i = 0; i < n; i++) dot += u[i]! * v[i]!;
      for (let i = 0; i < n; i++) v[i]! -= dot * u[i]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm); // = R[j][j] > 0, so no sign flip is needed
    for (let i = 0; i < n; i++) v[i]! /= norm;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = rows >= cols ? q[c]![r]! : q[r]![c]!;
  }
}

export function initParam(rng: Rng, spec: ParamSpec, out: Float32Array): void {
  switch (spec.init) {
    case 'zeros': out.fill(0); break;
    case 'ones': out.fill(1); break;
    case 'glorot_uniform': glorotUniform(rng, out, spec.fanIn!, spec.fanOut!); break;
    case 'orthogonal': {
      const cols = spec.shape[spec.shape.length - 1]!;
      orthogonal(rng, out, out.length / cols, cols);
      break;
    }
    case 'lstm_bias': {
      // Keras unit_forget_bias: zeros except the forget gate (second block of `units`).
      out.fill(0);
      out.fill(1, spec.units!, 2 * spec.units!);
      break;
    }
  }
}

export function initStat(spec: StatSpec, out: Float32Array): void {
  out.fill(spec.init === 'ones' ? 1 : 0);
}

/** Fresh parameters and moving statistics; each parameter has its own derived stream. */
export function initialWeights(layout: ModelLayout, rng: Rng): { params: Float32Array; state: Float32Array } {
  const params = new Float32Array(layout.paramCount);
  for (const s of layout.params) initParam(rng.derive(`init:${s.spec.name}`), s.spec, params.subarray(s.offset, s.offset + s.size));
  const state = new Float32Array(layout.statCount);
  for (const s of layout.stats) initStat(s.spec, state.subarray(s.offset, s.offset + s.size));
  return { params, state };
}
