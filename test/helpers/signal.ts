/** Comparisons against reference arrays (fixtures, reference graphs), shared by the tests. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** A raw little-endian float32 file (the fixtures' `*.f32`). */
export function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Largest |a - b| relative to the largest |b| (the tensor's scale). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

/** Signal-to-noise ratio of `got` against `ref`, in dB. */
export function snrDb(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let err = 0;
  let sig = 0;
  for (let i = 0; i < ref.length; i++) {
    err += (got[i]! - ref[i]!) ** 2;
    sig += ref[i]! ** 2;
  }
  return 10 * Math.log10(sig / err);
}
