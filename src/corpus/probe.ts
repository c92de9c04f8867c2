import { readFile } from 'node:fs/promises';
import { decodeWav, inspectWav } from '../audio/wav.js';
import { sha256 } from '../util/hash.js';
import { errorMessage } from '../util/errors.js';
import type { ProbeCache, ProbeResult } from './probe-cache.js';

export type ProbeOutcome = { ok: true; result: ProbeResult; cached: boolean } | { ok: false; error: string };

/**
 * Read a whole audio file once: hash its bytes and validate its WAV structure (chunk layout, a
 * supported encoding, a data chunk the file really holds). Integer PCM has no invalid sample
 * values, so a valid structure means the file decodes; float files are decoded to catch NaN/Inf.
 */
export async function probeWavFile(absPath: string, displayPath: string, size: number, mtimeMs: number, cache?: ProbeCache): Promise<ProbeOutcome> {
  const hit = size >= 0 ? cache?.get(absPath, size, mtimeMs) : undefined;
  if (hit) return { ok: true, result: hit, cached: true };
  try {
    const bytes = await readFile(absPath);
    const info = inspectWav(bytes, { file: displayPath });
    if (info.frames === 0) return { ok: false, error: `${displayPath}: no audio (0 sample frames)` };
    if (info.sampleFormat === 'float') {
      const bad = decodeWav(bytes, { file: displayPath }).samples.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) return { ok: false, error: `${displayPath}: sample ${bad} is not a finite number` };
    }
    const result: ProbeResult = {
      sha256: sha256(bytes),
      sampleRate: info.sampleRate,
      channels: info.channels,
      bitsPerSample: info.bitsPerSample,
      durationS: info.durationS,
    };
    if (size >= 0) cache?.set(absPath, size, mtimeMs, result);
    return { ok: true, result, cached: false };
  } catch (e) {
    const msg = errorMessage(e);
    return { ok: false, error: msg.startsWith(displayPath) ? msg : `${displayPath}: ${msg}` };
  }
}

/** Run `fn` over `items` with at most `limit` in flight, results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      signal?.throwIfAborted();
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
