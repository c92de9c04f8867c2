/**
 * Typed access to fft.js (CommonJS, no type declarations) without an ambient `declare module`,
 * so other modules can share it without clashing declarations.
 */
import { createRequire } from 'node:module';

/** The part of fft.js's FFT class we use. Arrays are interleaved complex (re, im) of length 2*size. */
export interface FftJs {
  readonly size: number;
  /** Forward transform of `size` real samples; fills bins 0..size/2 of `out` (indices 0..size+1). */
  realTransform(out: Float64Array | number[], data: Float64Array | number[]): void;
  /** Mirrors bins 1..size/2-1 into the upper half after realTransform. */
  completeSpectrum(spectrum: Float64Array | number[]): void;
  transform(out: Float64Array | number[], data: Float64Array | number[]): void;
  /** Inverse transform, already divided by size. */
  inverseTransform(out: Float64Array | number[], data: Float64Array | number[]): void;
}

const require = createRequire(import.meta.url);
const FFT = require('fft.js') as new (size: number) => FftJs;

const cache = new Map<number, FftJs>();

/**
 * A shared fft.js instance for a power-of-two size. Safe to share within a thread: fft.js keeps
 * state only for the duration of one synchronous call.
 */
export function fftOfSize(size: number): FftJs {
  let f = cache.get(size);
  if (!f) {
    f = new FFT(size);
    cache.set(size, f);
  }
  return f;
}
