/** What a voice activity detector is (its implementations: vad-silero.ts, vad-energy.ts). */
import type { WavStream } from './wav-stream.js';

export type VadKind = 'silero' | 'energy';

/** Per-frame speech probabilities of a whole recording; frame i covers [i*hopS, i*hopS + hopS). */
export interface SpeechProbabilities {
  hopS: number;
  probs: Float32Array;
  durationS: number;
}

export interface VoiceActivityDetector {
  readonly kind: VadKind;
  /** Reads the stream a block at a time (bounded memory) and scores every frame. */
  detect(stream: WavStream): Promise<SpeechProbabilities>;
  close(): Promise<void>;
}
