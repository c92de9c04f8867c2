/**
 * predict --segments on recordings of any length: speech segments found in a recording of RAVDESS
 * clips joined with silence, each labelled as predict labels its clip alone; short clips unchanged;
 * long files without --segments say they were cut; no speech and corrupt files; CSV and timeline.
 * The segmentation pieces (speechSegments, windowStarts, streamed WAV reads) are tested on their own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAudio } from '../src/audio/frontend.js';
import { speechSpan } from '../src/audio/speech-span.js';
import { speechSegments, DEFAULT_SEGMENT_PARAMS } from '../src/audio/vad.js';
import { EnergyVad } from '../src/audio/vad-energy.js';
import { encodeWav, readWavMono } from '../src/audio/wav.js';
import { openWavStream, readResampled } from '../src/audio/wav-stream.js';
import { windowStarts } from '../src/predict/segments.js';
import { writeTimeline } from '../src/report/timeline.js';
import { sharedDir } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';
import { lastJson, Rig } from './helpers/rig.js';
import { trainTinyModel } from './helpers/tiny-model.js';

const RAVDESS = join(sharedDir(), 'data', 'ravdess');
const EMOTIONS: Record<string, string> = { '03': 'happy', '04': 'sad', '05': 'angry' };
const emotionOf = (file: string) => EMOTIONS[file.split('/').pop()!.split('-')[2]!]!;

let rig: Rig;
let modelDir: string;

before(async () => {
  rig = new Rig();
  const clips = ['Actor_01', 'Actor_02'].flatMap((a) => readdirSync(join(RAVDESS, a))
    .filter((f) => EMOTIONS[f.split('-')[2]!])
    .map((f) => ({ path: join(RAVDESS, a, f), label: emotionOf(f) })));
  modelDir = await trainTinyModel(join(rig.dir, 'tiny'), clips, 40);
});

after(() => rig?.cleanup());

interface Segment { start: number; end: number; emotion: string; probabilities: Record<string, number> }
interface SegmentedDoc {
  predictions: { file: string; emotion: string | null; probabilities: Record<string, number>; segments: Segment[]; note?: string }[];
  errors: { file: string; error: string }[];
}

/** Clips joined with digital silence (gapsS before, between and after), and where each clip's speech lies. */
function joinClips(clips: string[], gapsS: number[], out: string): { truth: { start: number; end: number }[] } {
  const rate = 48000;
  const parts: Float32Array[] = [];
  const truth: { start: number; end: number }[] = [];
  let at = 0;
  const gap = (s: number) => { parts.push(new Float32Array(Math.round(s * rate))); at += Math.round(s * rate); };
  gap(gapsS[0]!);
  clips.forEach((c, i) => {
    const w = readWavMono(c);
    assert.equal(w.sampleRate, rate);
    const y = w.mono.slice();
    const span = speechSpan(y, rate);
    truth.push({ start: (at + span.start) / rate, end: (at + span.end) / rate });
    parts.push(y);
    at += y.length;
    gap(gapsS[i + 1]!);
  });
  const all = new Float32Array(at);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  writeFileSync(out, encodeWav(all, { sampleRate: rate }));
  return { truth };
}

test('a recording of angry, sad and happy clips joined with silence: three segments within ±0.3 s, each labelled as its clip alone', { timeout: 120_000 }, async () => {
  const a = join(RAVDESS, 'Actor_01');
  const clips = [join(a, '03-01-05-02-02-02-01.wav'), join(a, '03-01-04-01-01-01-01.wav'), join(a, '03-01-03-02-01-01-01.wav')];
  const rec = join(rig.dir, 'angry-sad-happy.wav');
  const { truth } = joinClips(clips, [1.5, 2.0, 1.2, 1.5], rec);
  const csv = join(rig.dir, 'segments.csv');
  const svg = join(rig.dir, 'timeline.svg');

  const seg = await rig.cli(['predict', '--model', modelDir, rec, '--segments', '--json', '--csv', csv, '--plot', svg]);
  assert.equal(seg.code, 0, seg.stderr);
  const alone = await rig.cli(['predict', '--model', modelDir, ...clips, '--json']);
  assert.equal(alone.code, 0, alone.stderr);
  const expected = lastJson<SegmentedDoc>(alone.stdout).predictions.map((p) => p.emotion);
  // The test only proves something if the clips are told apart.
  assert.ok(new Set(expected).size >= 2, `the tiny model tells the clips apart: ${expected}`);

  const doc = lastJson<SegmentedDoc>(seg.stdout);
  const p = doc.predictions[0]!;
  assert.equal(p.segments.length, 3, JSON.stringify(p.segments));
  p.segments.forEach((s, i) => {
    assert.ok(Math.abs(s.start - truth[i]!.start) <= 0.3, `segment ${i} starts at ${s.start}, speech at ${truth[i]!.start.toFixed(2)}`);
    assert.ok(Math.abs(s.end - truth[i]!.end) <= 0.3, `segment ${i} ends at ${s.end}, speech at ${truth[i]!.end.toFixed(2)}`);
    assert.equal(s.emotion, expected[i], `segment ${i}`);
    const sum = Object.values(s.probabilities).reduce((x, y) => x + y, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4);
  });
  // The file's probabilities: duration-weighted mean over its segments.
  const total = p.segments.reduce((x, s) => x + s.end - s.start, 0);
  for (const [label, v] of Object.entries(p.probabilities)) {
    const mean = p.segments.reduce((x, s) => x + s.probabilities[label]! * (s.end - s.start), 0) / total;
    assert.ok(Math.abs(v - mean) < 1e-5, label);
  }
  assert.equal(p.emotion, Object.entries(p.probabilities).sort((x, y) => y[1] - x[1])[0]![0]);

  // The energy detector finds the same three utterances (its boundaries are looser: clip-edge clicks).
  const stream = openWavStream(rec);
  try {
    const energy = speechSegments(await new EnergyVad().detect(stream));
    assert.equal(energy.length, 3, JSON.stringify(energy));
    energy.forEach((s, i) => assert.ok(s.start < truth[i]!.end && s.end > truth[i]!.start, `energy segment ${i} overlaps its clip`));
  } finally {
    stream.close();
  }

  // CSV: a header and one row per segment; the timeline names the emotions.
  const rows = readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(rows[0], `file,start,end,emotion,confidence,${Object.keys(p.probabilities).join(',')}`);
  assert.equal(rows.length, 4);
  assert.ok(rows[1]!.startsWith(`${rec},${p.segments[0]!.start},${p.segments[0]!.end},${p.segments[0]!.emotion},`));
  const plot = readFileSync(svg, 'utf8');
  assert.ok(plot.startsWith('<svg'));
  for (const e of new Set(expected)) assert.ok(plot.includes(`>${e}<`), `legend shows ${e}`);

  // Without --segments the same file is cut to the model's input, and predict says so.
  const cut = await rig.cli(['predict', '--model', modelDir, rec, '--json']);
  assert.equal(cut.code, 0, cut.stderr);
  const note = lastJson<{ predictions: { note?: string }[] }>(cut.stdout).predictions[0]!.note;
  assert.match(note ?? '', /only the first 4\.0 s of 1\d\.\d s were classified; use --segments/);
  assert.match(cut.stderr, /only the first 4\.0 s/);
});

test('a clip shorter than the model window: the same probabilities with and without --segments', { timeout: 60_000 }, async () => {
  const clip = join(RAVDESS, 'Actor_02', '03-01-04-02-02-01-02.wav');
  const w = readWavMono(clip);
  // A 3 s clip: the first 3 s of a RAVDESS clip (speech starts at about 1 s).
  const short = join(rig.dir, 'short3s.wav');
  writeFileSync(short, encodeWav(w.mono.slice(0, 3 * w.sampleRate), { sampleRate: w.sampleRate }));
  const plain = await rig.cli(['predict', '--model', modelDir, short, '--json']);
  const seg = await rig.cli(['predict', '--model', modelDir, short, '--json', '--segments']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(seg.code, 0, seg.stderr);
  const a = lastJson<SegmentedDoc>(plain.stdout).predictions[0]!;
  const b = lastJson<SegmentedDoc>(seg.stdout).predictions[0]!;
  assert.equal(a.note, undefined);
  assert.deepEqual(b.probabilities, a.probabilities);
  assert.equal(b.emotion, a.emotion);
  assert.ok(b.segments.length >= 1);
  for (const s of b.segments) {
    assert.deepEqual(s.probabilities, a.probabilities);
    assert.ok(s.start >= 0.5 && s.end <= 3, `speech inside the clip: ${s.start}-${s.end}`);
  }
});

test('no speech: an empty segment list and a message, not an error; a corrupt file is reported by name', { timeout: 60_000 }, async () => {
  const rng = new Rng('hiss');
  const hiss = Float32Array.from({ length: 48000 * 8 }, () => rng.normal() * 0.001);
  const quiet = join(rig.dir, 'hiss.wav');
  writeFileSync(quiet, encodeWav(hiss, { sampleRate: 48000 }));
  const broken = join(rig.dir, 'broken.wav');
  writeFileSync(broken, 'RIFF\x10\x00\x00\x00WAVEjunk');
  const res = await rig.cli(['predict', '--model', modelDir, quiet, broken, '--segments', '--json']);
  assert.equal(res.code, 1, 'a file failed');
  const doc = lastJson<SegmentedDoc>(res.stdout);
  assert.equal(doc.predictions.length, 1);
  const p = doc.predictions[0]!;
  assert.equal(p.file, quiet);
  assert.deepEqual(p.segments, []);
  assert.equal(p.emotion, null);
  assert.equal(p.note, 'no speech found');
  assert.deepEqual(doc.errors.map((e) => e.file), [broken]);
  assert.match(doc.errors[0]!.error, /WAV/);
  assert.match(res.stderr, /broken\.wav: .*WAV/);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  const usage = await rig.cli(['predict', '--model', modelDir, quiet, '--csv', join(rig.dir, 'x.csv')]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--csv and --plot need --segments/);
});

test('speechSegments: hysteresis, minimum silence and speech, padding to the gap midpoint, maximum length', () => {
  const hopS = 0.01;
  const probs = new Float32Array(10_000);
  const speech = (a: number, b: number, p = 0.9) => probs.fill(p, Math.round(a / hopS), Math.round(b / hopS));
  speech(1.0, 2.0);
  speech(2.3, 3.0); // 0.3 s pause < minSilence 0.5: same segment
  speech(3.0, 3.4, 0.4); // above the 0.35 release level: still speech
  speech(5.0, 5.1); // 0.1 s burst < minSpeech 0.25: dropped
  speech(6.0, 7.0);
  speech(7.15, 7.2, 0.2); // below the release level
  speech(7.7, 8.5); // 0.7 s after 7.0: a new segment; padding stops at the midpoint 7.35
  speech(20, 85); // 65 s: three parts of 21.93 s (with padding) under maxSegment 30
  const params = { ...DEFAULT_SEGMENT_PARAMS, padS: 0.4 };
  assert.deepEqual([params.threshold, params.minSilenceS, params.minSpeechS, params.maxSegmentS], [0.5, 0.5, 0.25, 30]);
  const segs = speechSegments({ hopS, probs, durationS: 100 }, params);
  const r = (v: number) => Math.round(v * 100) / 100;
  assert.deepEqual(segs.slice(0, 3).map((s) => [r(s.start), r(s.end)]), [[0.6, 3.8], [5.6, 7.35], [7.35, 8.9]]);
  assert.equal(segs.length, 6);
  const long = segs.slice(3);
  assert.ok(long.every((s) => s.end - s.start <= 30));
  assert.equal(r(long[0]!.start), 19.6);
  assert.equal(r(long[2]!.end), 85.4);
  assert.equal(long[0]!.end, long[1]!.start);
  assert.deepEqual(speechSegments({ hopS, probs: new Float32Array(500), durationS: 5 }), []);
});

test('windowStarts: one centred window inside the file for a short span, hop-spaced windows ending at the end of a long one', () => {
  assert.deepEqual(windowStarts({ start: 5, end: 7 }, 4, 2, 60), [4]);
  assert.deepEqual(windowStarts({ start: 0.5, end: 1.5 }, 4, 2, 60), [0]);
  assert.deepEqual(windowStarts({ start: 58, end: 59.5 }, 4, 2, 60), [56]);
  assert.deepEqual(windowStarts({ start: 10, end: 19 }, 4, 2, 60), [10, 12, 14, 15]);
});

test('streamed WAV reads: any range equals the same slice of the whole decode, every fixture format', () => {
  const dir = join(sharedDir(), 'fixtures', 'wav-formats');
  const names = readdirSync(dir).filter((f) => f.endsWith('.wav'));
  assert.ok(names.length >= 10);
  for (const name of names) {
    const path = join(dir, name);
    const whole = readWavMono(path).mono.slice();
    const s = openWavStream(path);
    try {
      assert.equal(s.info.frames, whole.length, name);
      assert.deepEqual(s.readMono(0, s.info.frames), whole, name);
      assert.deepEqual(s.readMono(137, 400), whole.slice(137, 537), name);
      assert.deepEqual(s.readMono(whole.length - 5, 100), whole.slice(whole.length - 5), name);
    } finally {
      s.close();
    }
  }
  // Errors name the file, as readWavMono's do.
  const truncated = join(rig.dir, 'cut.wav');
  const full = readFileSync(join(dir, 'pcm16_mono.wav'));
  writeFileSync(truncated, full.subarray(0, full.length - 100));
  assert.throws(() => openWavStream(truncated), (e: Error) => /cut\.wav/.test(String((e as { file?: string }).file)) && /truncated/.test(e.message));
  assert.equal(openWavStream(truncated, { allowTruncated: true }).info.frames, readWavMono(truncated, { allowTruncated: true }).frames);
  assert.throws(() => openWavStream(join(rig.dir, 'missing.wav')), /cannot read WAV file/);
});

test('readResampled: a stretch of a file resampled on its own matches the same stretch of the whole file resampled', () => {
  const clip = join(RAVDESS, 'Actor_01', '03-01-05-02-01-01-01.wav');
  const whole = loadAudio(clip, 22050).y;
  const s = openWavStream(clip);
  try {
    const part = readResampled(s, 1.3, 2.9, 22050);
    const at = Math.round(part.startS * 22050);
    assert.equal(part.y.length, Math.ceil(2.9 * 22050) - Math.floor(1.3 * 22050));
    let err = 0;
    let peak = 0;
    for (let i = 0; i < part.y.length; i++) {
      err = Math.max(err, Math.abs(part.y[i]! - whole[at + i]!));
      peak = Math.max(peak, Math.abs(whole[at + i]!));
    }
    assert.ok(err < 1e-4 * Math.max(peak, 1e-3) + 1e-6, `max error ${err} (peak ${peak})`);
  } finally {
    s.close();
  }
});

test('the timeline also renders to PNG', { timeout: 60_000 }, async () => {
  const png = join(rig.dir, 'timeline.png');
  await writeTimeline(png, [{ file: 'a.wav', durationS: 10, segments: [{ start: 1, end: 3, emotion: 'sad', probabilities: { sad: 0.8, angry: 0.2 } }] }], ['angry', 'sad']);
  assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await assert.rejects(writeTimeline(join(rig.dir, 't.jpg'), [], []), /must end in \.png or \.svg/);
});
