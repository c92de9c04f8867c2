/** The --segments side of `emopipe predict`: option parsing, the table, --csv and --plot. */
import { writeFileSync } from 'node:fs';
import { DEFAULT_SEGMENT_OPTIONS, segmentsCsv, type SegmentedOutput, type SegmentOptions } from '../predict/segments.js';
import { EmopipeError } from '../util/errors.js';

export interface SegmentFlags {
  segments?: boolean;
  vad?: string;
  minSpeech?: string;
  minSilence?: string;
  maxSegment?: string;
  window?: string;
  hop?: string;
  csv?: string;
  plot?: string;
  threads?: number;
}

function seconds(flag: string, v: string | undefined, opts: { allowZero?: boolean } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !opts.allowZero)) {
    throw new EmopipeError('E_USAGE', `${flag} expects a ${opts.allowZero ? 'non-negative' : 'positive'} number of seconds, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function segmentOptionsOf(o: SegmentFlags): SegmentOptions {
  const vad = o.vad ?? 'silero';
  if (vad !== 'silero' && vad !== 'energy') throw new EmopipeError('E_USAGE', `--vad expects silero or energy, got ${JSON.stringify(vad)}`);
  return {
    ...DEFAULT_SEGMENT_OPTIONS,
    vad,
    minSpeechS: seconds('--min-speech', o.minSpeech, { allowZero: true }) ?? DEFAULT_SEGMENT_OPTIONS.minSpeechS,
    minSilenceS: seconds('--min-silence', o.minSilence, { allowZero: true }) ?? DEFAULT_SEGMENT_OPTIONS.minSilenceS,
    maxSegmentS: seconds('--max-segment', o.maxSegment, { allowZero: true }) ?? DEFAULT_SEGMENT_OPTIONS.maxSegmentS,
    windowS: seconds('--window', o.window),
    hopS: seconds('--hop', o.hop),
    threads: o.threads,
  };
}

export async function writeSegmentOutputs(out: SegmentedOutput, o: SegmentFlags): Promise<void> {
  if (o.csv) writeFileSync(o.csv, segmentsCsv(out.predictions));
  if (o.plot) {
    const { writeTimeline } = await import('../report/timeline.js');
    const labels = [...new Set(out.predictions.flatMap((p) => Object.keys(p.probabilities)))];
    const warning = await writeTimeline(o.plot, out.predictions, labels);
    if (warning) process.stderr.write(`emopipe: ${warning}\n`);
  }
}

const pct = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;

/** Per file: the overall emotion, then a table of segments (start, end, emotion, confidence). */
export function printSegments(out: SegmentedOutput): void {
  for (const p of out.predictions) {
    const speech = p.segments.reduce((a, s) => a + s.end - s.start, 0);
    if (p.emotion === null) {
      process.stdout.write(`${p.file}: ${p.note ?? 'no speech found'} (${p.durationS.toFixed(1)} s)\n`);
      continue;
    }
    process.stdout.write(
      `${p.file}: ${p.emotion} (${pct(p.probabilities[p.emotion])}) over ${p.segments.length} speech segment${p.segments.length === 1 ? '' : 's'}, ` +
        `${speech.toFixed(1)} s of ${p.durationS.toFixed(1)} s\n`,
    );
    process.stdout.write(`    ${'start'.padStart(9)} ${'end'.padStart(9)}  ${'emotion'.padEnd(10)} confidence\n`);
    for (const s of p.segments) {
      process.stdout.write(`    ${s.start.toFixed(2).padStart(9)} ${s.end.toFixed(2).padStart(9)}  ${s.emotion.padEnd(10)} ${pct(s.probabilities[s.emotion]).padStart(10)}\n`);
    }
  }
}
