/**
 * Non-finite values (NaN, ±Infinity) in audio or features. A finite but extreme float sample
 * (3e38) overflows float32 inside a filter and turns into Infinity/NaN, and a NaN spreads to the
 * whole clip through an FFT: every audio stage checks what it produced.
 */
import { EmopipeError } from '../util/errors.js';

/** Index of the first value that is not finite, or -1. */
export function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) {
    // x - x is NaN exactly for NaN and ±Infinity; cheaper than Number.isFinite per element.
    if (x[i]! - x[i]! !== 0) return i;
  }
  return -1;
}

/** Throws E_AUDIO_NON_FINITE (`what`: "resampled audio", "MFCC features", ...) when x holds a non-finite value. */
export function assertFinite(x: ArrayLike<number>, what: string, file?: string): void {
  const first = firstNonFinite(x);
  if (first < 0) return;
  let count = 0;
  for (let i = first; i < x.length; i++) if (x[i]! - x[i]! !== 0) count++;
  throw new EmopipeError(
    'E_AUDIO_NON_FINITE',
    `${what}: ${count} of ${x.length} values are not finite (first at index ${first}); the input probably holds extreme sample values`,
    file === undefined ? {} : { file },
  );
}
