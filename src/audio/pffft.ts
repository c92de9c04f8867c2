/**
 * PFFFT (SIMD WebAssembly, @echogarden/pffft-wasm): float32 FFTs about 6x faster than fft.js.
 * Loaded once per thread by a top-level await, so the transforms themselves are synchronous.
 * When the module cannot be loaded, `pffftAvailable` is false (one warning per thread) and
 * callers keep their fft.js path.
 */

/** The part of the Emscripten module we use. */
interface PffftModule {
  HEAPF32: Float32Array;
  _pffft_new_setup(n: number, kind: number): number;
  _pffft_transform_ordered(setup: number, input: number, output: number, work: number, direction: number): void;
  _pffft_transform(setup: number, input: number, output: number, work: number, direction: number): void;
  _pffft_zconvolve_accumulate(setup: number, a: number, b: number, ab: number, scaling: number): void;
  _pffft_aligned_malloc(bytes: number): number;
}

const PFFFT_REAL = 0;
const PFFFT_COMPLEX = 1;
const PFFFT_FORWARD = 0;
const PFFFT_BACKWARD = 1;

async function loadModule(): Promise<PffftModule | undefined> {
  if (process.env.EMOPIPE_NO_PFFFT) return undefined;
  let lastError: unknown;
  // The SIMD build first; the plain one where WebAssembly SIMD is missing.
  for (const entry of ['@echogarden/pffft-wasm/simd', '@echogarden/pffft-wasm']) {
    try {
      const factory = (await import(entry)).default as () => Promise<PffftModule>;
      return await factory();
    } catch (e) {
      lastError = e;
    }
  }
  process.emitWarning(`pffft-wasm could not be loaded (${(lastError as Error)?.message ?? lastError}); using fft.js`, { code: 'EMOPIPE_PFFFT' });
  return undefined;
}

const mod = await loadModule();

/** True when the transforms below can be used in this thread. */
export const pffftAvailable = mod !== undefined;

/**
 * An input and an output buffer of `floats` values on the WebAssembly heap, with typed-array views
 * that are re-made when the heap grows (only allocations grow it).
 */
abstract class HeapIo {
  private heap: Float32Array;
  private inView: Float32Array;
  private outView: Float32Array;

  protected constructor(
    protected readonly inPtr: number,
    protected readonly outPtr: number,
    private readonly floats: number,
  ) {
    this.heap = mod!.HEAPF32;
    this.inView = this.view(inPtr);
    this.outView = this.view(outPtr);
  }

  private view(ptr: number): Float32Array {
    return this.heap.subarray(ptr >> 2, (ptr >> 2) + this.floats);
  }

  private refresh(): void {
    if (mod!.HEAPF32 === this.heap) return;
    this.heap = mod!.HEAPF32;
    this.inView = this.view(this.inPtr);
    this.outView = this.view(this.outPtr);
  }

  /** Values to transform (real: size values; complex: interleaved re, im). */
  get input(): Float32Array {
    this.refresh();
    return this.inView;
  }

  /**
   * The result. Complex: interleaved (re, im) per bin. Real forward: [X0, X(n/2), re X1, im X1, ...]
   * (DC and Nyquist are real and share the first pair). Not scaled.
   */
  get output(): Float32Array {
    this.refresh();
    return this.outView;
  }
}

/**
 * One float32 transform of a fixed size with its input and output buffers on the WebAssembly heap.
 * Write into `input`, call `forward()` or `backward()`, read `output`; the views are re-made if
 * the heap grows (only allocations grow it, so views taken after the last `*Fft32` call stay valid).
 */
export class Fft32 extends HeapIo {
  readonly size: number;
  private readonly setup: number;
  private readonly workPtr: number;

  constructor(size: number, complex: boolean) {
    if (!mod) throw new Error('pffft-wasm is not available');
    const floats = complex ? 2 * size : size;
    const setup = mod._pffft_new_setup(size, complex ? PFFFT_COMPLEX : PFFFT_REAL);
    if (setup === 0) throw new RangeError(`pffft: unsupported size ${size}`);
    super(mod._pffft_aligned_malloc(4 * floats), mod._pffft_aligned_malloc(4 * floats), floats);
    this.size = size;
    this.setup = setup;
    this.workPtr = mod._pffft_aligned_malloc(4 * floats);
  }

  forward(): void {
    mod!._pffft_transform_ordered(this.setup, this.inPtr, this.outPtr, this.workPtr, PFFFT_FORWARD);
  }

  /** Inverse transform of `input` (same layout as a forward output), not divided by size. */
  backward(): void {
    mod!._pffft_transform_ordered(this.setup, this.inPtr, this.outPtr, this.workPtr, PFFFT_BACKWARD);
  }
}

const real = new Map<number, Fft32>();
const complex = new Map<number, Fft32>();

/** A shared real float32 FFT of `size` points (a power of two >= 32), or undefined without pffft. */
export function realFft32(size: number): Fft32 | undefined {
  if (!mod || size < 32 || (size & (size - 1)) !== 0) return undefined;
  let f = real.get(size);
  if (!f) real.set(size, (f = new Fft32(size, false)));
  return f;
}

/** A shared complex float32 FFT of `size` points (a power of two >= 16), or undefined without pffft. */
export function complexFft32(size: number): Fft32 | undefined {
  if (!mod || size < 16 || (size & (size - 1)) !== 0) return undefined;
  let f = complex.get(size);
  if (!f) complex.set(size, (f = new Fft32(size, true)));
  return f;
}

/**
 * Linear convolution of real blocks with a fixed real filter h (h.length < size) by a real
 * float32 FFT of `size` points: write a block (zero-padded to `size`) into `input`, call
 * `filter()`, read the circular convolution with h from `output`. The spectra stay in pffft's
 * internal order and the product runs in WebAssembly.
 */
export class FftConvolver32 extends HeapIo {
  readonly size: number;
  private readonly setup: number;
  private readonly specPtr: number;
  private readonly filterPtr: number;
  private readonly prodPtr: number;
  private readonly workPtr: number;

  constructor(size: number, h: ArrayLike<number>) {
    if (!mod) throw new Error('pffft-wasm is not available');
    if (size < 32 || (size & (size - 1)) !== 0 || h.length > size) throw new RangeError(`FftConvolver32: bad size ${size} for ${h.length} taps`);
    const alloc = () => mod!._pffft_aligned_malloc(4 * size);
    super(alloc(), alloc(), size);
    this.size = size;
    this.setup = mod._pffft_new_setup(size, PFFFT_REAL);
    this.specPtr = alloc();
    this.filterPtr = alloc();
    this.prodPtr = alloc();
    this.workPtr = alloc();
    const hIn = this.input;
    hIn.fill(0);
    for (let i = 0; i < h.length; i++) hIn[i] = h[i]!;
    mod._pffft_transform(this.setup, this.inPtr, this.filterPtr, this.workPtr, PFFFT_FORWARD);
  }

  /** output <- input (*) h, circular over `size` points. */
  filter(): void {
    const m = mod!;
    m._pffft_transform(this.setup, this.inPtr, this.specPtr, this.workPtr, PFFFT_FORWARD);
    m.HEAPF32.fill(0, this.prodPtr >> 2, (this.prodPtr >> 2) + this.size);
    m._pffft_zconvolve_accumulate(this.setup, this.specPtr, this.filterPtr, this.prodPtr, 1 / this.size);
    m._pffft_transform(this.setup, this.prodPtr, this.outPtr, this.workPtr, PFFFT_BACKWARD);
  }
}

/** An FftConvolver32 for h, or undefined without pffft. */
export function fftConvolver32(size: number, h: ArrayLike<number>): FftConvolver32 | undefined {
  return mod ? new FftConvolver32(size, h) : undefined;
}
