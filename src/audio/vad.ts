/**
 * Voice activity detection: a detector turns a recording into per-frame speech probabilities, and
 * speechSegments turns those into speech segments (hysteresis, minimum speech and silence, padding,
 * a maximum length). Detectors: vad-silero.ts (Silero VAD's ONNX model) and vad-energy.ts (frame
 * energy against the local noise floor).
 */
import type { SpeechProbabilities, VadKind, VoiceActivityDetector } from './vad-detector.js';

export type { SpeechProbabilities, VadKind, VoiceActivityDetector } from './vad-detector.js';

export interface SegmentParams {
  /** Speech starts where the probability reaches this (default 0.5)... */
  threshold: number;
  /** ...and ends where it stays below threshold - 0.15 for minSilenceS. */
  minSilenceS: number;
  /** Shorter bursts are dropped. */
  minSpeechS: number;
  /** Added before and after each segment (not across the midpoint of a shorter gap). */
  padS: number;
  /** Longer segments are cut into equal parts no longer than this (0 = never). */
  maxSegmentS: number;
}

export const DEFAULT_SEGMENT_PARAMS: SegmentParams = { threshold: 0.5, minSilenceS: 0.5, minSpeechS: 0.25, padS: 0.05, maxSegmentS: 30 };

export interface TimeSpan {
  start: number;
  end: number;
}

/** Speech segments (seconds) from frame probabilities; the same post-processing for every detector. */
export function speechSegments(sp: SpeechProbabilities, params: SegmentParams = DEFAULT_SEGMENT_PARAMS): TimeSpan[] {
  const { probs, hopS } = sp;
  const off = Math.max(0.01, params.threshold - 0.15);
  const raw: TimeSpan[] = [];
  let start = -1;
  let lastSpeech = -1;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (start < 0) {
      if (p >= params.threshold) { start = i; lastSpeech = i; }
      continue;
    }
    if (p >= off) lastSpeech = i;
    // Close the segment once the silence since the last speech frame is long enough.
    if ((i - lastSpeech) * hopS >= params.minSilenceS) {
      raw.push({ start: start * hopS, end: (lastSpeech + 1) * hopS });
      start = -1;
    }
  }
  if (start >= 0) raw.push({ start: start * hopS, end: (lastSpeech + 1) * hopS });
  const kept = raw.filter((s) => s.end - s.start >= params.minSpeechS);
  // Padding: never past the file, never past the middle of the gap to a neighbour.
  const padded = kept.map((s, i) => {
    const prev = kept[i - 1];
    const next = kept[i + 1];
    const lo = prev ? (prev.end + s.start) / 2 : 0;
    const hi = next ? (s.end + next.start) / 2 : sp.durationS;
    return { start: Math.max(lo, s.start - params.padS, 0), end: Math.min(hi, s.end + params.padS, sp.durationS) };
  });
  if (!(params.maxSegmentS > 0)) return padded.map(round3);
  const out: TimeSpan[] = [];
  for (const s of padded) {
    const parts = Math.max(1, Math.ceil((s.end - s.start) / params.maxSegmentS - 1e-9));
    const len = (s.end - s.start) / parts;
    for (let k = 0; k < parts; k++) out.push({ start: s.start + k * len, end: k === parts - 1 ? s.end : s.start + (k + 1) * len });
  }
  return out.map(round3);
}

function round3(s: TimeSpan): TimeSpan {
  return { start: Math.round(s.start * 1000) / 1000, end: Math.round(s.end * 1000) / 1000 };
}

/** The detector of `kind`; Silero's model loads lazily (onnxruntime is large). */
export async function createDetector(kind: VadKind, opts: { threads?: number } = {}): Promise<VoiceActivityDetector> {
  if (kind === 'energy') {
    const { EnergyVad } = await import('./vad-energy.js');
    return new EnergyVad();
  }
  const { loadSileroVad } = await import('./vad-silero.js');
  return loadSileroVad(opts);
}
