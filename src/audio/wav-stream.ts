/**
 * WAV files read a range at a time, for recordings too long to hold in memory (an hour of 48 kHz
 * stereo float is 1.4 GB). The header is parsed by wav.ts's own inspectWav and each range decoded by
 * its decodeWavMono, so a streamed read gives exactly the samples readWavMono gives.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { EmopipeError } from '../util/errors.js';
import { decodeWavMono, inspectWav, type WavInfo } from './wav.js';
import { resample, resampledLength } from './resample.js';

/** Bytes of the chunk walk read at once: RIFF header and fmt chunks are tiny. */
const HEADER_PROBE = 64 * 1024;

export interface WavStreamOptions {
  /** As in readWavMono: read the whole frames of a data chunk that runs past the end of the file. */
  allowTruncated?: boolean;
}

/** An open WAV file: its header, and mono float32 samples of any frame range on demand. */
export interface WavStream {
  readonly path: string;
  readonly info: WavInfo;
  /** Mono samples of frames [start, start + count) (clamped to the file), mean of the channels. */
  readMono(start: number, count: number): Float32Array;
  close(): void;
}

function ioError(path: string, e: unknown): EmopipeError {
  if (e instanceof EmopipeError) return e;
  return new EmopipeError('E_INPUT_MISSING', `cannot read WAV file: ${(e as Error).message}`, { file: path, cause: e });
}

/**
 * Opens `path` and parses its header without reading the samples. Errors (E_WAV_*, E_INPUT_MISSING)
 * name the file, as readWavMono's do.
 */
export function openWavStream(path: string, opts: WavStreamOptions = {}): WavStream {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw ioError(path, e);
  }
  try {
    const size = fstatSync(fd).size;
    const { header, fmtEnd } = readHeaderChunks(fd, size);
    // inspectWav validates the format and finds the data chunk in a copy of the header chunks whose
    // data chunk is empty; the frame count then comes from the real file size.
    const probe = inspectWav(header, { file: path, allowTruncated: true });
    const dataOffset = fmtEnd.dataOffset;
    if (dataOffset === 0) throw new EmopipeError('E_WAV_INVALID', 'invalid WAV file: no fmt or data chunk found', { file: path });
    const declared = probe.streamed ? size - dataOffset : declaredDataSize(header, probe.dataOffset);
    let available = Math.max(0, size - dataOffset);
    let truncated = false;
    if (!probe.streamed && declared > available) {
      if (!opts.allowTruncated) {
        throw new EmopipeError('E_WAV_TRUNCATED', `truncated WAV file: the data chunk declares ${declared} bytes but only ${available} follow`, { file: path });
      }
      truncated = true;
    } else if (!probe.streamed) {
      available = declared;
    }
    const blockAlign = (probe.bitsPerSample / 8) * probe.channels;
    const frames = Math.floor(available / blockAlign);
    const info: WavInfo = { ...probe, frames, durationS: frames / probe.sampleRate, dataOffset, dataBytes: frames * blockAlign, truncated };
    return new FileWavStream(path, fd, info, fmtEnd.template);
  } catch (e) {
    closeSync(fd);
    throw ioError(path, e);
  }
}

function declaredDataSize(header: Uint8Array, dataBodyOffset: number): number {
  return new DataView(header.buffer, header.byteOffset).getUint32(dataBodyOffset - 4, true);
}

/**
 * Walks the chunk list with positioned reads and returns a small WAV image of it: every chunk up to
 * the data chunk's header (fmt included; a fmt after the data chunk is moved before it), with an
 * empty data body. `template` is the same image with the data size field to be filled per range.
 */
function readHeaderChunks(fd: number, size: number): { header: Uint8Array; fmtEnd: { dataOffset: number; template: Uint8Array } } {
  const head = new Uint8Array(Math.min(size, HEADER_PROBE));
  readFully(fd, head, 0);
  const fourcc = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
  // Anything that is not a plain RIFF/WAVE start, or is tiny, is left to inspectWav's messages.
  if (head.length < 12 || fourcc(head, 0) !== 'RIFF' || fourcc(head, 8) !== 'WAVE') return { header: head, fmtEnd: { dataOffset: 0, template: head } };
  let fmt: Uint8Array | undefined;
  let dataAt = -1;
  let dataSize = 0;
  let pos = 12;
  const chunkHead = new Uint8Array(8);
  while (pos + 8 <= size) {
    readFully(fd, chunkHead, pos);
    const id = fourcc(chunkHead, 0);
    const len = new DataView(chunkHead.buffer).getUint32(4, true);
    if (id === 'fmt ' && !fmt) {
      // Copied with an even length (a RIFF chunk of odd size is followed by a pad byte).
      const body = Math.min(len, 1024);
      fmt = new Uint8Array(8 + body + (body & 1));
      readFully(fd, fmt.subarray(0, 8 + body), pos);
      new DataView(fmt.buffer).setUint32(4, body, true);
    } else if (id === 'data' && dataAt < 0) {
      dataAt = pos + 8;
      dataSize = len;
      if (len === 0xffffffff) break;
    }
    if (len === 0xffffffff || (fmt && dataAt >= 0)) break;
    pos += 8 + len + (len & 1);
  }
  if (!fmt || dataAt < 0) return { header: head, fmtEnd: { dataOffset: 0, template: head } };
  const image = new Uint8Array(12 + fmt.length + 8);
  image.set(head.subarray(0, 12));
  image.set(fmt, 12);
  image.set([0x64, 0x61, 0x74, 0x61], 12 + fmt.length);
  const v = new DataView(image.buffer);
  v.setUint32(12 + fmt.length + 4, dataSize, true);
  return { header: image, fmtEnd: { dataOffset: dataAt, template: image } };
}

function readFully(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

class FileWavStream implements WavStream {
  private buffer = new Uint8Array(0);
  constructor(readonly path: string, private fd: number | null, readonly info: WavInfo, private readonly template: Uint8Array) {}

  readMono(start: number, count: number): Float32Array {
    if (this.fd === null) throw new Error(`${this.path}: stream closed`);
    const s = Math.max(0, Math.min(this.info.frames, Math.floor(start)));
    const e = Math.max(s, Math.min(this.info.frames, Math.floor(start + count)));
    const blockAlign = (this.info.bitsPerSample / 8) * this.info.channels;
    const bytes = (e - s) * blockAlign;
    const headerLen = this.template.length;
    if (this.buffer.length < headerLen + bytes) this.buffer = new Uint8Array(headerLen + bytes);
    const image = this.buffer.subarray(0, headerLen + bytes);
    image.set(this.template);
    const v = new DataView(image.buffer, image.byteOffset);
    v.setUint32(4, image.length - 8, true);
    v.setUint32(headerLen - 4, bytes, true);
    let got: number;
    try {
      got = readFully(this.fd, image.subarray(headerLen), this.info.dataOffset + s * blockAlign);
    } catch (e) {
      throw ioError(this.path, e);
    }
    if (got < bytes) throw new EmopipeError('E_WAV_TRUNCATED', 'truncated WAV file: it became shorter while being read', { file: this.path });
    // A fresh array: callers keep ranges while the next one is read.
    return decodeWavMono(image, { file: this.path }).mono;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Mono samples of [startS, endS) seconds resampled to `rate`, as loadAudio would give for that
 * stretch of the whole file: the range is read with a margin on both sides so the resampling
 * filter sees the real neighbouring samples, then the margin is cut off. Returns the samples and
 * the time (s) of the first one.
 */
export function readResampled(stream: WavStream, startS: number, endS: number, rate: number): { y: Float32Array; startS: number } {
  const inRate = stream.info.sampleRate;
  // Output sample k is input time k / rate: start on an output sample.
  const outStart = Math.max(0, Math.floor(startS * rate));
  const outEnd = Math.max(outStart, Math.min(resampledLength(stream.info.frames, inRate, rate), Math.ceil(endS * rate)));
  if (inRate === rate) return { y: stream.readMono(outStart, outEnd - outStart), startS: outStart / rate };
  // Start the read on a common grid of both rates when possible, so output samples land on k / rate exactly.
  const g = gcd(inRate, rate);
  const periodIn = inRate / g;
  const periodOut = rate / g;
  const margin = Math.ceil((0.05 * inRate) / periodIn) * periodIn; // 50 ms: far beyond the soxr-HQ filter's reach
  let readStart = Number.isInteger(periodIn) ? Math.floor((outStart / periodOut)) * periodIn - margin : Math.floor((outStart * inRate) / rate) - margin;
  readStart = Math.max(0, readStart);
  const readEnd = Math.min(stream.info.frames, Math.ceil((outEnd * inRate) / rate) + margin);
  const x = stream.readMono(readStart, readEnd - readStart);
  const y = resample(x, inRate, rate);
  const skip = Math.round((readStart * rate) / inRate);
  const from = outStart - skip;
  return { y: y.slice(Math.max(0, from), Math.max(0, from) + (outEnd - outStart)), startS: outStart / rate };
}

function gcd(a: number, b: number): number {
  if (!Number.isInteger(a) || !Number.isInteger(b)) return 1;
  while (b) [a, b] = [b, a % b];
  return a;
}
