/**
 * Long recordings with known speech boundaries, built from RAVDESS clips: each clip is cut to its
 * speech span (speechSpan: within 30 dB of its loudest frame) and the pieces are joined with
 * silence, optionally under white or pink noise at a given SNR. For the segmentation tests and the
 * VAD comparison (bench/vad.ts).
 */
import { readWavMono } from '../../src/audio/wav.js';
import { speechSpan } from '../../src/audio/speech-span.js';
import type { TimeSpan } from '../../src/audio/vad.js';
import { Rng } from '../../src/util/rng.js';

export interface RecordingSpec {
  clips: string[];
  /** Silence before the first clip, between clips and after the last (s); one value or one per gap. */
  gapsS: number[];
  noise?: { type: 'white' | 'pink'; snrDb: number };
  seed?: string;
}

export interface Recording {
  rate: number;
  samples: Float32Array;
  /** Where each clip's speech lies in the recording (s). */
  truth: TimeSpan[];
  /** Each clip's speech, as placed. */
  pieces: Float32Array[];
}

export function buildRecording(spec: RecordingSpec): Recording {
  const pieces: Float32Array[] = [];
  let rate = 0;
  for (const path of spec.clips) {
    const w = readWavMono(path);
    if (rate && w.sampleRate !== rate) throw new Error(`${path}: ${w.sampleRate} Hz, expected ${rate}`);
    rate = w.sampleRate;
    const mono = Float32Array.from(w.mono);
    const span = speechSpan(mono, rate);
    pieces.push(mono.slice(span.start, span.end));
  }
  const gap = (i: number) => Math.round((spec.gapsS[i] ?? spec.gapsS[spec.gapsS.length - 1]!) * rate);
  const total = pieces.reduce((a, p) => a + p.length, 0) + Array.from({ length: pieces.length + 1 }, (_, i) => gap(i)).reduce((a, b) => a + b, 0);
  const samples = new Float32Array(total);
  const truth: TimeSpan[] = [];
  let at = gap(0);
  pieces.forEach((p, i) => {
    samples.set(p, at);
    truth.push({ start: at / rate, end: (at + p.length) / rate });
    at += p.length + gap(i + 1);
  });
  if (spec.noise) addNoise(samples, pieces, spec.noise, new Rng(spec.seed ?? 'noise'));
  return { rate, samples, truth, pieces };
}

/** Noise scaled so that the mean speech power over the noise power is snrDb. */
function addNoise(samples: Float32Array, pieces: Float32Array[], noise: { type: 'white' | 'pink'; snrDb: number }, rng: Rng): void {
  let speech = 0;
  let n = 0;
  for (const p of pieces) for (const v of p) { speech += v * v; n++; }
  const target = speech / Math.max(1, n) / 10 ** (noise.snrDb / 10);
  const buf = new Float32Array(samples.length);
  // Pink noise: Paul Kellet's economy filter over white noise.
  let b0 = 0, b1 = 0, b2 = 0;
  let power = 0;
  for (let i = 0; i < buf.length; i++) {
    const w = rng.normal();
    if (noise.type === 'white') buf[i] = w;
    else {
      b0 = 0.99765 * b0 + w * 0.099046;
      b1 = 0.963 * b1 + w * 0.2965164;
      b2 = 0.57 * b2 + w * 1.0526913;
      buf[i] = b0 + b1 + b2 + w * 0.1848;
    }
    power += buf[i]! * buf[i]!;
  }
  const scale = Math.sqrt(target / (power / buf.length));
  for (let i = 0; i < samples.length; i++) samples[i] = samples[i]! + buf[i]! * scale;
}

/** Per truth span: the detected segment overlapping it most, and the boundary errors (s). */
export function matchSegments(truth: TimeSpan[], found: TimeSpan[]): { startErr: number; endErr: number; matched: boolean; pieces: number }[] {
  return truth.map((t) => {
    const overlapping = found.filter((f) => f.end > t.start && f.start < t.end);
    if (overlapping.length === 0) return { startErr: Infinity, endErr: Infinity, matched: false, pieces: 0 };
    // A truth span split in several segments: its boundaries are the outer ones.
    const start = Math.min(...overlapping.map((f) => f.start));
    const end = Math.max(...overlapping.map((f) => f.end));
    return { startErr: Math.abs(start - t.start), endErr: Math.abs(end - t.end), matched: true, pieces: overlapping.length };
  });
}
