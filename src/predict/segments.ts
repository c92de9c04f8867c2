/**
 * Emotions of recordings of any length: voice activity detection finds the speech segments, each
 * segment is cut into windows of the model's length (overlapping by default), every window is
 * classified, and a segment's probabilities are the mean over its windows. The file's own
 * probabilities are the duration-weighted mean over its segments.
 *
 * The file is read a range at a time (wav-stream.ts): memory does not grow with its length.
 * A file the model sees whole anyway (no longer than its window) is classified exactly as
 * predictFiles does, so --segments changes nothing for short clips but adds where the speech is.
 */
import { join } from 'node:path';
import { frameCount } from '../audio/mfcc.js';
import { featureDims, utteranceFeatures } from '../audio/features.js';
import { resampledLength } from '../audio/resample.js';
import { createDetector, DEFAULT_SEGMENT_PARAMS, speechSegments, type SegmentParams, type TimeSpan, type VadKind, type VoiceActivityDetector } from '../audio/vad.js';
import { openWavStream, readResampled, type WavStream } from '../audio/wav-stream.js';
import { featureOptionsOf, mfccOptionsOf, type FrontendConfig } from '../audio/frontend-config.js';
import { EmopipeError, errorMessage } from '../util/errors.js';
import { predictFiles } from './predict.js';

export interface SegmentOptions extends SegmentParams {
  vad: VadKind;
  /** Window length (s); default and maximum: the model's input length. */
  windowS?: number;
  /** Step between windows of a segment longer than one window (s); default half the window. */
  hopS?: number;
  threads?: number;
}

export const DEFAULT_SEGMENT_OPTIONS: SegmentOptions = { ...DEFAULT_SEGMENT_PARAMS, vad: 'silero' };

export interface SegmentPrediction {
  /** Seconds from the start of the file. */
  start: number;
  end: number;
  emotion: string;
  probabilities: Record<string, number>;
}

export interface SegmentedPrediction {
  file: string;
  /** Argmax of the duration-weighted mean over segments; null when no speech was found. */
  emotion: string | null;
  probabilities: Record<string, number>;
  durationS: number;
  segments: SegmentPrediction[];
  /** Said when there is something to say (no speech found). */
  note?: string;
}

export interface SegmentedOutput {
  predictions: SegmentedPrediction[];
  errors: { file: string; error: string }[];
}

/** Windows classified per inference call. */
const BATCH = 16;
/** A segment up to this long (s) is read and resampled in one piece, a longer one window by window. */
const WHOLE_SEGMENT_MAX_S = 120;

/** The model's input length: `frames` centred STFT frames come from (frames - 1) * hop samples. */
export function modelWindowS(frontend: FrontendConfig): number {
  return ((frontend.frames - 1) * frontend.hopLength) / frontend.sampleRate;
}

/**
 * Window start times (s) for a span: hop-spaced windows inside a span longer than one window (the
 * last ending at span.end); for a shorter span, one window centred on it, kept inside [0, durationS],
 * so the model sees the utterance with the quiet around it, as its training clips show it.
 */
export function windowStarts(span: TimeSpan, windowS: number, hopS: number, durationS: number): number[] {
  const len = span.end - span.start;
  if (len <= windowS + 1e-9) {
    const centred = (span.start + span.end) / 2 - windowS / 2;
    return [Math.max(0, Math.min(durationS - windowS, centred))];
  }
  const starts: number[] = [];
  for (let t = span.start; t + windowS < span.end - 1e-9; t += hopS) starts.push(t);
  starts.push(span.end - windowS);
  return starts;
}

export async function predictSegments(modelDir: string, files: string[], frontend: FrontendConfig, opts: SegmentOptions = DEFAULT_SEGMENT_OPTIONS): Promise<SegmentedOutput> {
  const modelWindow = modelWindowS(frontend);
  const windowS = Math.min(opts.windowS ?? modelWindow, modelWindow);
  const hopS = opts.hopS ?? windowS / 2;
  if (!(windowS > 0) || !(hopS > 0)) throw new EmopipeError('E_USAGE', `--window and --hop must be positive (got ${windowS}, ${hopS})`);
  const predictions: SegmentedPrediction[] = [];
  const errors: { file: string; error: string }[] = [];
  const fail = (file: string, e: unknown) => errors.push({ file, error: errorMessage(e).replace(`${file}: `, '') });

  let detector: VoiceActivityDetector | undefined;
  let classifier: Awaited<ReturnType<typeof import('../model/infer.js').loadClassifier>> | undefined;
  try {
    for (const file of files) {
      let stream: WavStream;
      try {
        stream = openWavStream(file);
      } catch (e) {
        fail(file, e);
        continue;
      }
      try {
        detector ??= await createDetector(opts.vad, { threads: 1 });
        const spans = speechSegments(await detector.detect(stream), opts);
        const durationS = stream.info.durationS;
        const modelFrames = frameCount(resampledLength(stream.info.frames, stream.info.sampleRate, frontend.sampleRate), frontend.hopLength);
        let segmentProbs: { labels: string[]; probs: number[][] };
        if (spans.length === 0) {
          predictions.push({ file, emotion: null, probabilities: {}, durationS, segments: [], note: 'no speech found' });
          continue;
        }
        if (modelFrames <= frontend.frames) {
          // The model sees the whole file: classify it exactly as predict does without --segments.
          const whole = await predictFiles(modelDir, [file], frontend, { threads: opts.threads });
          if (whole.errors.length > 0) { errors.push(...whole.errors); continue; }
          const p = whole.predictions[0]!;
          const labels = Object.keys(p.probabilities);
          const wholeFile = summarise(file, durationS, spans, labels, spans.map(() => labels.map((l) => p.probabilities[l]!)));
          predictions.push({ ...wholeFile, emotion: p.emotion, probabilities: p.probabilities });
          continue;
        } else {
          classifier ??= await (await import('../model/infer.js')).loadClassifier(join(modelDir, 'model.onnx'), { threads: opts.threads });
          segmentProbs = await classifySpans(stream, spans, frontend, classifier, windowS, hopS);
        }
        predictions.push(summarise(file, durationS, spans, segmentProbs.labels, segmentProbs.probs));
      } catch (e) {
        if (e instanceof EmopipeError && (e.code === 'E_MODEL' || e.code === 'E_NOT_FOUND' || e.code === 'E_USAGE')) throw e;
        fail(file, e);
      } finally {
        stream.close();
      }
    }
  } finally {
    await detector?.close();
    await classifier?.close();
  }
  return { predictions, errors };
}

type Classifier = Awaited<ReturnType<typeof import('../model/infer.js').loadClassifier>>;

/** Mean class probabilities of each span's windows, classified BATCH windows at a time. */
async function classifySpans(stream: WavStream, spans: TimeSpan[], frontend: FrontendConfig, classifier: Classifier, windowS: number, hopS: number): Promise<{ labels: string[]; probs: number[][] }> {
  const labels = classifier.labels ?? Array.from({ length: classifier.classes }, (_, i) => `class_${i}`);
  const options = mfccOptionsOf(frontend);
  const featureOptions = featureOptionsOf(frontend);
  const per = frontend.frames * featureDims(options, featureOptions);
  const sums = spans.map(() => new Float64Array(labels.length));
  const counts = spans.map(() => 0);
  const batch = new Float32Array(BATCH * per);
  const owners: number[] = [];
  const flush = async () => {
    if (owners.length === 0) return;
    const probs = await classifier.predict(batch.subarray(0, owners.length * per), owners.length);
    owners.forEach((s, i) => {
      for (let k = 0; k < labels.length; k++) sums[s]![k]! += probs[i * labels.length + k]!;
      counts[s]!++;
    });
    owners.length = 0;
  };
  const rate = frontend.sampleRate;
  const durationS = stream.info.durationS;
  for (let s = 0; s < spans.length; s++) {
    const span = spans[s]!;
    const long = span.end - span.start > windowS;
    const whole = long && span.end - span.start <= WHOLE_SEGMENT_MAX_S ? readResampled(stream, span.start, span.end, rate) : undefined;
    for (const t of windowStarts(span, windowS, hopS, durationS)) {
      const end = Math.min(durationS, t + windowS);
      let y: Float32Array;
      if (whole) {
        const a = Math.max(0, Math.round((t - whole.startS) * rate));
        y = whole.y.subarray(a, Math.min(whole.y.length, a + Math.round((end - t) * rate)));
      } else {
        const r = readResampled(stream, t, end, rate);
        y = r.y;
        // The context around a short segment: other segments' speech is silenced, so that a window
        // describes its own segment only.
        if (!long) {
          const silence = (o: TimeSpan) => y.fill(0, Math.max(0, Math.round((o.start - r.startS) * rate)), Math.min(y.length, Math.round((o.end - r.startS) * rate)));
          for (let k = s - 1; k >= 0 && spans[k]!.end > r.startS; k--) silence(spans[k]!);
          for (let k = s + 1; k < spans.length && spans[k]!.start < end; k++) silence(spans[k]!);
        }
      }
      // A window shorter than the model's input is padded like a short clip (zero feature rows).
      batch.set(utteranceFeatures(y, options, featureOptions).data, owners.length * per);
      owners.push(s);
      if (owners.length === BATCH) await flush();
    }
  }
  await flush();
  return { labels, probs: sums.map((sum, s) => Array.from(sum, (v) => v / Math.max(1, counts[s]!))) };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

function argmax(p: number[]): number {
  let best = 0;
  for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
  return best;
}

function summarise(file: string, durationS: number, spans: TimeSpan[], labels: string[], probs: number[][]): SegmentedPrediction {
  const total = new Float64Array(labels.length);
  let speech = 0;
  const segments = spans.map((span, s) => {
    const p = probs[s]!;
    const w = span.end - span.start;
    speech += w;
    p.forEach((v, k) => (total[k]! += v * w));
    const probabilities: Record<string, number> = {};
    labels.forEach((l, k) => (probabilities[l] = round6(p[k]!)));
    return { start: span.start, end: span.end, emotion: labels[argmax(p)]!, probabilities };
  });
  const mean = Array.from(total, (v) => v / speech);
  const probabilities: Record<string, number> = {};
  labels.forEach((l, k) => (probabilities[l] = round6(mean[k]!)));
  return { file, emotion: labels[argmax(mean)]!, probabilities, durationS: Math.round(durationS * 1000) / 1000, segments };
}

/** One CSV row per segment: file, start, end, emotion, confidence, then one column per label. */
export function segmentsCsv(predictions: SegmentedPrediction[]): string {
  const labels = [...new Set(predictions.flatMap((p) => p.segments.flatMap((s) => Object.keys(s.probabilities))))];
  const cell = (v: string | number) => {
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = [['file', 'start', 'end', 'emotion', 'confidence', ...labels].map(cell).join(',')];
  for (const p of predictions) {
    for (const s of p.segments) {
      rows.push([p.file, s.start, s.end, s.emotion, s.probabilities[s.emotion] ?? '', ...labels.map((l) => s.probabilities[l] ?? '')].map(cell).join(','));
    }
  }
  return rows.join('\n') + '\n';
}
