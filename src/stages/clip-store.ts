/**
 * The on-disk form of a set of signals shared by the resample and augment stages: every clip's
 * float32 samples concatenated in `audio.f32` (little endian) plus `clips.json` describing them.
 * One file instead of thousands keeps cache entries cheap to hash, verify and link.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const AUDIO_FILE = 'audio.f32';
export const CLIPS_FILE = 'clips.json';

export interface StoredClip {
  /** The manifest row path of the original recording. */
  source: string;
  label: string;
  speaker: string;
  /** Offset and length in samples within audio.f32. */
  offset: number;
  length: number;
  /** null for the original recording; the concrete transform for an augmented copy. */
  augmentation: Record<string, unknown> | null;
}

export interface ClipSet {
  sampleRate: number;
  /** Class names in model output order (from the ingest manifest). */
  labels: string[];
  synthetic: boolean;
  clips: StoredClip[];
  /** Files that could not be processed, with the reason. */
  failed: { path: string; error: string }[];
  /** Anything else worth recording about how the set was made. */
  notes?: Record<string, unknown>;
}

/** Writes clips (in the given order) and their signals; offsets are assigned here. */
export async function writeClipSet(dir: string, set: Omit<ClipSet, 'clips'>, clips: { clip: Omit<StoredClip, 'offset' | 'length'>; y: Float32Array }[]): Promise<ClipSet> {
  const fd = openSync(join(dir, AUDIO_FILE), 'w');
  const stored: StoredClip[] = [];
  let offset = 0;
  try {
    for (const { clip, y } of clips) {
      writeSync(fd, new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
      stored.push({ ...clip, offset, length: y.length });
      offset += y.length;
    }
  } finally {
    closeSync(fd);
  }
  const full: ClipSet = { ...set, clips: stored };
  await writeFile(join(dir, CLIPS_FILE), JSON.stringify(full, null, 1) + '\n');
  return full;
}

export async function readClipSet(dir: string): Promise<ClipSet> {
  return JSON.parse(await readFile(join(dir, CLIPS_FILE), 'utf8')) as ClipSet;
}

/** Reads one clip's samples (worker-friendly: synchronous, reads only that range). */
export function readClipSamples(audioFile: string, offset: number, length: number): Float32Array {
  const y = new Float32Array(length);
  const fd = openSync(audioFile, 'r');
  try {
    const bytes = new Uint8Array(y.buffer);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, offset * 4 + done);
      if (n === 0) throw new Error(`${audioFile}: ends before sample ${offset + length}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return y;
}
