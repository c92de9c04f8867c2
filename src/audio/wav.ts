/**
 * RIFF/WAVE reading and writing, with the samples libsndfile (and so soundfile/librosa) gives.
 *
 * Read: integer PCM of 8 (unsigned), 16, 24 and 32 bits, IEEE float of 32 and 64 bits, plain or
 * WAVE_FORMAT_EXTENSIBLE; any other chunk (JUNK, LIST, FLLR, fact, id3 ...) is skipped, odd-sized
 * chunks carry a pad byte. Integer PCM is scaled by 1/2^(bits-1) for both signs, as libsndfile does.
 *
 * Sizes of 0xFFFFFFFF (a writer that streamed to a pipe and never patched the header) mean "to the end
 * of the file". A data chunk that claims more bytes than the file holds, without that marker, is a
 * truncated file: an E_WAV_TRUNCATED error by default (a cut-off download should not silently become
 * a shorter training clip); `allowTruncated` reads the whole frames that are there, as libsndfile does.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { EmopipeError } from '../util/errors.js';

export type WavSampleFormat = 'pcm' | 'float';

/** What the header says, and where the samples are. */
export interface WavInfo {
  sampleRate: number;
  channels: number;
  /** Sample frames available (whole frames only). */
  frames: number;
  /** Bits per sample in the container (8, 16, 24, 32, 64). */
  bitsPerSample: number;
  sampleFormat: WavSampleFormat;
  /** The wFormatTag of the fmt chunk (0xFFFE for WAVE_FORMAT_EXTENSIBLE). */
  formatTag: number;
  durationS: number;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** Bytes of sample data that will be read (frames * blockAlign). */
  dataBytes: number;
  /** Sizes were 0xFFFFFFFF: the data was read to the end of the file. */
  streamed: boolean;
  /** The file ended before the data chunk's declared size (only with allowTruncated). */
  truncated: boolean;
}

export interface WavAudio extends WavInfo {
  /** Interleaved samples (frames x channels), float64, exactly as libsndfile's sf_read_double. */
  samples: Float64Array;
}

export interface WavReadOptions {
  /** Name used in error messages (default '<buffer>'). */
  file?: string;
  /** Read what is there when the data chunk runs past the end of the file (default false: error). */
  allowTruncated?: boolean;
  /** Refuse (E_WAV_UNSUPPORTED) a file longer than this many seconds, before any sample is decoded. */
  maxDurationS?: number;
}

/**
 * Sample rates a header may claim. Outside this range a file is refused before decoding: a
 * header claiming 1 Hz made a 256 KB file "35 hours" long, and resampling it took 11 GB.
 */
export const WAV_MIN_RATE = 1000;
export const WAV_MAX_RATE = 768000;

const STREAMED_SIZE = 0xffffffff;
const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** The 14 bytes that follow the 2-byte format code in every KSDATAFORMAT_SUBTYPE_* GUID we read. */
const KSDATAFORMAT_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** Names of common compressed format tags, so that an error says what the file actually is. */
const FORMAT_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'mu-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG',
  0x0055: 'MPEG Layer 3',
  0x00ff: 'AAC',
  0x1610: 'HE-AAC',
  0xf1ac: 'FLAC',
};

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

function formatName(tag: number): string {
  const hex = `0x${tag.toString(16).padStart(4, '0')}`;
  return FORMAT_NAMES[tag] ? `${hex} (${FORMAT_NAMES[tag]})` : hex;
}

/** Parses the chunk structure; decodes nothing. Throws EmopipeError E_WAV_* naming the file. */
export function inspectWav(bytes: Uint8Array, opts: WavReadOptions = {}): WavInfo {
  const file = opts.file ?? '<buffer>';
  const fail = (code: 'E_WAV_INVALID' | 'E_WAV_UNSUPPORTED' | 'E_WAV_TRUNCATED', msg: string): never => {
    throw new EmopipeError(code, msg, { file });
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.byteLength;

  if (len === 0) fail('E_WAV_INVALID', 'not a WAV file: the file is empty');
  if (len < 12) {
    if (len >= 4 && fourcc(bytes, 0) === 'RIFF') {
      fail('E_WAV_TRUNCATED', `truncated WAV file: ${len} bytes, the RIFF header alone needs 12`);
    }
    fail('E_WAV_INVALID', `not a WAV file: ${len} bytes, no RIFF header`);
  }
  const riff = fourcc(bytes, 0);
  if (riff === 'RIFX') fail('E_WAV_UNSUPPORTED', 'unsupported WAV variant: big-endian RIFX');
  if (riff === 'RF64') fail('E_WAV_UNSUPPORTED', 'unsupported WAV variant: RF64 (64-bit sizes)');
  if (riff !== 'RIFF') fail('E_WAV_INVALID', `not a WAV file: starts with ${JSON.stringify(riff)}, expected "RIFF"`);
  const form = fourcc(bytes, 8);
  if (form !== 'WAVE') fail('E_WAV_INVALID', `not a WAV file: RIFF form type ${JSON.stringify(form)}, expected "WAVE"`);

  let fmt: { tag: number; channels: number; rate: number; blockAlign: number; bits: number; sub?: number } | undefined;
  let data: { offset: number; size: number; streamed: boolean } | undefined;

  let pos = 12;
  while (pos + 8 <= len) {
    const id = fourcc(bytes, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16) fail('E_WAV_INVALID', `invalid WAV file: fmt chunk of ${size} bytes (at least 16 expected)`);
      if (body + 16 > len) fail('E_WAV_TRUNCATED', 'truncated WAV file: the file ends inside the fmt chunk');
      const tag = view.getUint16(body, true);
      fmt = {
        tag,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits: view.getUint16(body + 14, true),
      };
      if (tag === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) fail('E_WAV_INVALID', `invalid WAV file: WAVE_FORMAT_EXTENSIBLE fmt chunk of ${size} bytes (40 expected)`);
        if (body + 40 > len) fail('E_WAV_TRUNCATED', 'truncated WAV file: the file ends inside the fmt chunk');
        const guid = body + 24;
        const tailOk = KSDATAFORMAT_GUID_TAIL.every((v, i) => bytes[guid + 2 + i] === v);
        fmt.sub = tailOk ? view.getUint16(guid, true) : -1;
      }
    } else if (id === 'data' && !data) {
      const streamed = size === STREAMED_SIZE;
      data = { offset: body, size: streamed ? len - body : size, streamed };
      // Nothing reliable follows a streamed data chunk; otherwise keep scanning (fmt may come late).
      if (streamed) break;
    }
    if (size === STREAMED_SIZE) break;
    pos = body + size + (size & 1);
  }

  if (!fmt) {
    if (data || pos + 8 <= len) fail('E_WAV_INVALID', 'invalid WAV file: no fmt chunk');
    fail('E_WAV_TRUNCATED', 'truncated WAV file: the file ends before the fmt chunk');
  }
  if (!data) fail('E_WAV_TRUNCATED', 'truncated WAV file: no data chunk (the file ends before the audio)');
  const f = fmt!;
  const d = data!;

  let sampleFormat: WavSampleFormat;
  const effectiveTag = f.tag === WAVE_FORMAT_EXTENSIBLE ? f.sub! : f.tag;
  if (effectiveTag === WAVE_FORMAT_PCM) sampleFormat = 'pcm';
  else if (effectiveTag === WAVE_FORMAT_IEEE_FLOAT) sampleFormat = 'float';
  else if (f.tag === WAVE_FORMAT_EXTENSIBLE) {
    return fail('E_WAV_UNSUPPORTED', effectiveTag === -1
      ? 'unsupported WAV encoding: WAVE_FORMAT_EXTENSIBLE with a non-standard subformat GUID'
      : `unsupported WAV encoding: WAVE_FORMAT_EXTENSIBLE subformat ${formatName(effectiveTag)}; only PCM and IEEE float are read`);
  } else {
    return fail('E_WAV_UNSUPPORTED', `unsupported WAV encoding: format tag ${formatName(f.tag)}; only PCM and IEEE float are read`);
  }

  if (f.channels === 0) fail('E_WAV_INVALID', 'invalid WAV file: 0 channels');
  if (f.rate === 0) fail('E_WAV_INVALID', 'invalid WAV file: sample rate 0');
  if (f.rate < WAV_MIN_RATE || f.rate > WAV_MAX_RATE) {
    fail('E_WAV_UNSUPPORTED', `unsupported sample rate ${f.rate} Hz (read: ${WAV_MIN_RATE}-${WAV_MAX_RATE} Hz)`);
  }
  // The container width decides the decoding (e.g. 20 valid bits in 24-bit slots read as 24-bit).
  const bytesPerSample = f.blockAlign / f.channels;
  const containerBits = bytesPerSample * 8;
  const supported = sampleFormat === 'pcm' ? [8, 16, 24, 32] : [32, 64];
  if (!Number.isInteger(bytesPerSample) || !supported.includes(containerBits)) {
    fail('E_WAV_UNSUPPORTED',
      `unsupported WAV encoding: ${sampleFormat === 'pcm' ? 'integer PCM' : 'float'} with ${f.bits} bits per sample ` +
      `(block align ${f.blockAlign}, ${f.channels} channels); supported: ${supported.join('/')} bits`);
  }
  if (f.bits > containerBits || f.bits === 0) {
    fail('E_WAV_INVALID', `invalid WAV file: ${f.bits} bits per sample in ${containerBits}-bit sample slots`);
  }

  let available = Math.max(0, len - d.offset);
  let truncated = false;
  if (!d.streamed && d.size > available) {
    if (!opts.allowTruncated) {
      fail('E_WAV_TRUNCATED',
        `truncated WAV file: the data chunk declares ${d.size} bytes but only ${available} follow`);
    }
    truncated = true;
  } else {
    available = d.size;
  }
  const frames = Math.floor(available / f.blockAlign);
  if (opts.maxDurationS !== undefined && frames / f.rate > opts.maxDurationS) {
    fail('E_WAV_UNSUPPORTED', `${(frames / f.rate).toFixed(1)} s of audio; clips are read up to ${opts.maxDurationS} s`);
  }
  return {
    sampleRate: f.rate,
    channels: f.channels,
    frames,
    bitsPerSample: containerBits,
    sampleFormat,
    formatTag: f.tag,
    durationS: frames / f.rate,
    dataOffset: d.offset,
    dataBytes: frames * f.blockAlign,
    streamed: d.streamed,
    truncated,
  };
}

/** Decodes a WAV file held in memory to interleaved float64 samples. */
export function decodeWav(bytes: Uint8Array, opts: WavReadOptions = {}): WavAudio {
  const info = inspectWav(bytes, opts);
  const n = info.frames * info.channels;
  const out = new Float64Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset + info.dataOffset, info.dataBytes);
  if (info.sampleFormat === 'float') {
    if (info.bitsPerSample === 32) for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    else for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  } else {
    switch (info.bitsPerSample) {
      case 8: {
        const b = bytes.subarray(info.dataOffset, info.dataOffset + info.dataBytes);
        for (let i = 0; i < n; i++) out[i] = (b[i] - 128) / 128;
        break;
      }
      case 16:
        for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 32768;
        break;
      case 24: {
        const b = bytes.subarray(info.dataOffset, info.dataOffset + info.dataBytes);
        for (let i = 0, j = 0; i < n; i++, j += 3) {
          const v = b[j] | (b[j + 1] << 8) | (b[j + 2] << 16);
          out[i] = ((v << 8) >> 8) / 8388608;
        }
        break;
      }
      case 32:
        for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true) / 2147483648;
        break;
    }
  }
  return { ...info, samples: out };
}

export interface WavMonoOptions extends WavReadOptions {
  /**
   * Decode into a buffer owned by this thread and reused by the next call with this option: the
   * result is only valid until then. For a hot loop that consumes the samples at once (the
   * resampler copies them): fresh multi-megabyte buffers per file cost page faults and garbage
   * collections that, measured in the feature workers, took more CPU than decoding itself.
   */
  reuseBuffer?: boolean;
}

let monoScratch = new Float32Array(0);

/**
 * Decodes straight to mono float32 (mean of the channels), without the interleaved float64 copy:
 * the hot path of feature extraction. Same values as downmixToMono(decodeWav(...).samples).
 */
export function decodeWavMono(bytes: Uint8Array, opts: WavMonoOptions = {}): WavInfo & { mono: Float32Array } {
  const info = inspectWav(bytes, opts);
  const { frames, channels } = info;
  let mono: Float32Array;
  if (opts.reuseBuffer) {
    if (monoScratch.length < frames) monoScratch = new Float32Array(Math.max(frames, Math.ceil(monoScratch.length * 1.5)));
    mono = monoScratch.subarray(0, frames);
  } else {
    mono = new Float32Array(frames);
  }
  const data = bytes.subarray(info.dataOffset, info.dataOffset + info.dataBytes);
  if (info.sampleFormat === 'pcm' && info.bitsPerSample === 16 && channels === 1) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let t = 0; t < frames; t++) mono[t] = view.getInt16(2 * t, true) / 32768;
    return { ...info, mono };
  }
  const all = decodeWav(bytes, opts).samples;
  if (channels === 1) mono.set(all);
  else {
    for (let t = 0, i = 0; t < frames; t++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += all[i++];
      mono[t] = s / channels;
    }
  }
  return { ...info, mono };
}

/** Reads a WAV file as mono float32 (see decodeWavMono); errors name `path`. */
export function readWavMono(path: string, opts: Omit<WavMonoOptions, 'file'> = {}): WavInfo & { mono: Float32Array } {
  return decodeWavMono(readBytesIntoScratch(path), { ...opts, file: path });
}

/** Per-thread read buffer for readWavMono, which copies the samples out before the next read. */
let scratch = new Uint8Array(0);
const SCRATCH_MAX = 64 << 20;

/**
 * The file's bytes in a reused buffer, valid until the next call: one large allocation less per
 * file (allocation churn of ArrayBuffers is what makes V8 run full collections in the workers).
 */
function readBytesIntoScratch(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', `cannot read WAV file: ${(e as Error).message}`, { file: path, cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    if (size > SCRATCH_MAX) return readBytes(path);
    if (scratch.length < size) scratch = new Uint8Array(Math.max(size, Math.min(SCRATCH_MAX, scratch.length * 2)));
    let got = 0;
    while (got < size) {
      const n = readSync(fd, scratch, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return scratch.subarray(0, got);
  } catch (e) {
    if (e instanceof EmopipeError) throw e;
    throw new EmopipeError('E_INPUT_MISSING', `cannot read WAV file: ${(e as Error).message}`, { file: path, cause: e });
  } finally {
    closeSync(fd);
  }
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', `cannot read WAV file: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/** Reads and decodes a WAV file; errors name `path`. */
export function readWav(path: string, opts: Omit<WavReadOptions, 'file'> = {}): WavAudio {
  return decodeWav(readBytes(path), { ...opts, file: path });
}

/** Mean of the channels of interleaved samples, summed in float64 and rounded once to float32 (as librosa.to_mono on 2 channels). */
export function downmixToMono(samples: Float64Array | Float32Array, channels: number): Float32Array {
  if (channels === 1) {
    const out = new Float32Array(samples.length);
    out.set(samples); // (TypedArray.from iterates element by element: ~10x slower)
    return out;
  }
  const frames = Math.floor(samples.length / channels);
  const out = new Float32Array(frames);
  for (let t = 0, i = 0; t < frames; t++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += samples[i++];
    out[t] = s / channels;
  }
  return out;
}

export interface WavEncodeOptions {
  sampleRate: number;
  /** Channels of the interleaved input (default 1). */
  channels?: number;
  /** 'pcm16' (default) or 'float32' (WAVE_FORMAT_IEEE_FLOAT with a fact chunk). */
  format?: 'pcm16' | 'float32';
}

/**
 * Encodes interleaved samples as a canonical WAV file. PCM16 uses round(x * 32768) clipped to
 * [-32768, 32767], the exact inverse of the decoder's scaling, so any multiple of 1/32768 survives
 * a round trip unchanged.
 */
export function encodeWav(samples: Float32Array | Float64Array, opts: WavEncodeOptions): Uint8Array {
  const channels = opts.channels ?? 1;
  const format = opts.format ?? 'pcm16';
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`encodeWav: invalid channel count ${channels}`);
  if (!Number.isInteger(opts.sampleRate) || opts.sampleRate <= 0) throw new RangeError(`encodeWav: invalid sample rate ${opts.sampleRate}`);
  if (samples.length % channels !== 0) throw new RangeError(`encodeWav: ${samples.length} samples is not a whole number of ${channels}-channel frames`);
  const frames = samples.length / channels;
  const bytesPerSample = format === 'pcm16' ? 2 : 4;
  const dataBytes = samples.length * bytesPerSample;
  const isFloat = format === 'float32';
  const headerBytes = 12 + 24 + (isFloat ? 12 : 0) + 8;
  const pad = dataBytes & 1;
  const buf = new Uint8Array(headerBytes + dataBytes + pad);
  const v = new DataView(buf.buffer);
  const put4 = (at: number, s: string) => { for (let i = 0; i < 4; i++) buf[at + i] = s.charCodeAt(i); };
  put4(0, 'RIFF');
  v.setUint32(4, buf.length - 8, true);
  put4(8, 'WAVE');
  put4(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, isFloat ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, opts.sampleRate, true);
  v.setUint32(28, opts.sampleRate * channels * bytesPerSample, true);
  v.setUint16(32, channels * bytesPerSample, true);
  v.setUint16(34, bytesPerSample * 8, true);
  let pos = 36;
  if (isFloat) {
    put4(pos, 'fact');
    v.setUint32(pos + 4, 4, true);
    v.setUint32(pos + 8, frames, true);
    pos += 12;
  }
  put4(pos, 'data');
  v.setUint32(pos + 4, dataBytes, true);
  pos += 8;
  if (isFloat) {
    for (let i = 0; i < samples.length; i++) v.setFloat32(pos + i * 4, samples[i], true);
  } else {
    for (let i = 0; i < samples.length; i++) {
      const s = Math.round(samples[i] * 32768);
      v.setInt16(pos + i * 2, s > 32767 ? 32767 : s < -32768 ? -32768 : s, true);
    }
  }
  return buf;
}
