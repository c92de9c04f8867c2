/**
 * Energy-based voice activity detection: a frame is speech when its energy stands MARGIN_DB above
 * the local noise floor (the quietest tenth of each second, the lowest such value within ±10 s).
 * Cheap and needs no model, but it cannot tell speech from any other loud sound.
 */
import type { WavStream } from './wav-stream.js';
import type { SpeechProbabilities, VoiceActivityDetector } from './vad-detector.js';

const HOP_S = 0.01;
const FRAME_S = 0.02;
const MARGIN_DB = 8;
/** The floor never goes below this, so digital silence does not make faint hiss count as speech. */
const MIN_FLOOR_DB = -80;
const FLOOR_REACH_S = 10;
/** Softness of the speech score around the threshold (dB). */
const SLOPE_DB = 3;
const BLOCK_S = 10;

export class EnergyVad implements VoiceActivityDetector {
  readonly kind = 'energy' as const;

  async detect(stream: WavStream): Promise<SpeechProbabilities> {
    const rate = stream.info.sampleRate;
    const hop = Math.max(1, Math.round(HOP_S * rate));
    const frame = Math.max(hop, Math.round(FRAME_S * rate));
    const total = Math.ceil(stream.info.frames / hop);
    const db = new Float32Array(total);
    // Blocks of whole hops, read with the frame's overhang so no frame straddles two reads.
    const blockHops = Math.round(BLOCK_S / HOP_S);
    for (let f0 = 0; f0 < total; f0 += blockHops) {
      const f1 = Math.min(total, f0 + blockHops);
      const y = stream.readMono(f0 * hop, (f1 - f0 - 1) * hop + frame);
      for (let f = f0; f < f1; f++) {
        const s = (f - f0) * hop;
        const e = Math.min(y.length, s + frame);
        let acc = 0;
        for (let i = s; i < e; i++) acc += y[i]! * y[i]!;
        db[f] = 10 * Math.log10(acc / frame + 1e-12);
      }
    }
    const floor = localFloor(db, Math.round(1 / HOP_S), Math.round(FLOOR_REACH_S));
    const probs = new Float32Array(total);
    for (let f = 0; f < total; f++) {
      const threshold = floor[Math.floor(f * HOP_S)]! + MARGIN_DB;
      probs[f] = 1 / (1 + Math.exp(-(db[f]! - threshold) / SLOPE_DB));
    }
    return { hopS: hop / rate, probs, durationS: stream.info.durationS };
  }

  async close(): Promise<void> {}
}

/** Per second: the lowest 10th-percentile energy of the seconds within ±reach, at least MIN_FLOOR_DB. */
function localFloor(db: Float32Array, perSecond: number, reach: number): Float32Array {
  const seconds = Math.max(1, Math.ceil(db.length / perSecond));
  const p10 = new Float32Array(seconds);
  for (let s = 0; s < seconds; s++) {
    const part = db.slice(s * perSecond, Math.min(db.length, (s + 1) * perSecond)).sort();
    p10[s] = part.length ? part[Math.floor(part.length * 0.1)]! : MIN_FLOOR_DB;
  }
  const out = new Float32Array(seconds);
  for (let s = 0; s < seconds; s++) {
    let m = Infinity;
    for (let k = Math.max(0, s - reach); k <= Math.min(seconds - 1, s + reach); k++) m = Math.min(m, p10[k]!);
    out[s] = Math.max(MIN_FLOOR_DB, m);
  }
  return out;
}
