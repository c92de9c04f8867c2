import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSynthCorpus } from '../src/corpus/synth-corpus.js';
import { EMOTION_PROFILES, makeSpeakers, profileFor, synthesizeClip } from '../src/corpus/synth.js';
import { ingestKind, type IngestParams } from '../src/stages/ingest.js';
import { resolveManifestPath, type Manifest } from '../src/corpus/manifest.js';
import { decodeWav } from '../src/audio/wav.js';
import { Rng } from '../src/util/rng.js';
import { makeStageContext, tempDir } from './helpers/stage-context.js';

const small = { classes: ['happy', 'sad'], clipsPerClass: 2, speakers: 2, durationS: 0.5, sampleRate: 48000 };

test('same seed gives byte-identical WAV files, another seed different ones', async () => {
  const dirs = ['a', 'b', 'c'].map((n) => tempDir(`emopipe-synth-${n}-`));
  const a = await writeSynthCorpus(dirs[0]!, { ...small, seed: 7 });
  await writeSynthCorpus(dirs[1]!, { ...small, seed: 7 }, { jobs: 2 }); // threads must not change bytes
  await writeSynthCorpus(dirs[2]!, { ...small, seed: 8 });
  assert.equal(a.length, 8);
  for (const clip of a) {
    const x = readFileSync(join(dirs[0]!, clip.path));
    assert.deepEqual(readFileSync(join(dirs[1]!, clip.path)), x, clip.path);
    assert.notDeepEqual(readFileSync(join(dirs[2]!, clip.path)), x, clip.path);
    const wav = decodeWav(x);
    assert.equal(wav.sampleRate, 48000);
    assert.equal(wav.channels, 1);
    assert.equal(wav.frames, 24000);
  }
});

test('ingest format synth: writes the audio into its own output, manifest marked synthetic', async () => {
  const ctx = makeStageContext<IngestParams>(ingestKind, { format: 'synth', synth: { classes: ['angry', 'calm', 'fearful'], clips_per_class: 2, speakers: 3, duration_s: 0.4 } });
  const result = await ingestKind.run(ctx);
  const m = JSON.parse(readFileSync(join(ctx.outDir, 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.synthetic, true);
  assert.equal(m.format, 'synth');
  assert.equal(m.root, 'audio');
  assert.deepEqual(m.labels, ['angry', 'calm', 'fearful']);
  assert.equal(m.rows.length, 18);
  assert.deepEqual(m.report.bySpeaker, { s01: 6, s02: 6, s03: 6 });
  assert.deepEqual(m.report.corrupt, []);
  for (const r of m.rows) {
    assert.ok(existsSync(resolveManifestPath(ctx.outDir, m, r)), r.path);
    assert.equal(r.sampleRate, 48000);
    assert.ok(Math.abs(r.durationS - 0.4) < 1e-9);
  }
  assert.equal(m.rows[0]!.path, 's01/angry_01.wav');
  assert.equal(result?.metrics?.synthetic, 'yes');
  assert.match(result?.summary ?? '', /SYNTHETIC/);
});

/** Autocorrelation pitch of the loudest 40 ms of a clip, in Hz. */
function pitchOf(x: Float32Array, fs: number): number {
  const win = 2048;
  let best = 0;
  let at = 0;
  for (let i = 0; i + win < x.length; i += 512) {
    let e = 0;
    for (let j = 0; j < win; j++) e += x[i + j]! * x[i + j]!;
    if (e > best) [best, at] = [e, i];
  }
  // The first strong local maximum of the autocorrelation: the period, not one of its multiples.
  const lo = Math.floor(fs / 500);
  const hi = Math.ceil(fs / 60);
  const r = new Float64Array(hi + 2);
  for (let lag = lo - 1; lag <= hi + 1; lag++) {
    let s = 0;
    for (let j = 0; j + lag < win; j++) s += x[at + j]! * x[at + j + lag]!;
    r[lag] = s;
  }
  let max = -Infinity;
  for (let lag = lo; lag <= hi; lag++) max = Math.max(max, r[lag]!);
  let bestLag = hi;
  for (let lag = lo; lag <= hi; lag++) {
    if (r[lag]! >= 0.8 * max && r[lag]! >= r[lag - 1]! && r[lag]! >= r[lag + 1]!) {
      bestLag = lag;
      break;
    }
  }
  return fs / bestLag;
}

const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

test('classes differ the way their profiles say: loudness, pitch level', () => {
  const fs = 48000;
  const speakers = makeSpeakers(2, new Rng('synth:3'));
  const stats: Record<string, { level: number; pitchRatio: number }> = {};
  for (const label of ['neutral', 'sad', 'angry', 'fearful', 'surprised', 'disgust']) {
    const levels: number[] = [];
    const ratios: number[] = [];
    for (const sp of speakers) {
      for (let k = 0; k < 6; k++) {
        const x = synthesizeClip(profileFor(label), sp, { sampleRate: fs, durationS: 1.2 }, new Rng(`t/${label}/${sp.id}/${k}`));
        assert.ok(x.every((v) => Number.isFinite(v) && Math.abs(v) < 1));
        levels.push(20 * Math.log10(rms(x)));
        ratios.push(pitchOf(x, fs) / sp.f0);
      }
    }
    stats[label] = { level: median(levels), pitchRatio: median(ratios) };
  }
  // Loudness follows the profiles' dB offsets (angry +7, neutral 0, sad -6), within a few dB.
  assert.ok(stats.angry!.level - stats.neutral!.level > 4, JSON.stringify(stats));
  assert.ok(stats.neutral!.level - stats.sad!.level > 3, JSON.stringify(stats));
  // Pitch relative to the speaker: aroused classes high, sad/disgust low.
  for (const hi of ['fearful', 'surprised']) {
    for (const lo of ['sad', 'disgust']) {
      assert.ok(stats[hi]!.pitchRatio > stats[lo]!.pitchRatio * 1.15, `${hi} vs ${lo}: ${JSON.stringify(stats)}`);
    }
  }
  assert.ok(Math.abs(stats.neutral!.pitchRatio - 1) < 0.25, JSON.stringify(stats.neutral));
});

test('every emotion has a profile; unknown class names get a stable derived one', () => {
  assert.deepEqual(Object.keys(EMOTION_PROFILES), ['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised']);
  assert.deepEqual(profileFor('bored'), profileFor('bored'));
  assert.notDeepEqual(profileFor('bored'), profileFor('excited'));
});

test('variation scales how far clips of one class and speaker scatter (here: in level)', () => {
  const [sp] = makeSpeakers(1, new Rng('synth:5'));
  /** Standard deviation of the clips' levels, dB. */
  const spread = (variation: number) => {
    const levels: number[] = [];
    for (let k = 0; k < 8; k++) {
      const x = synthesizeClip(profileFor('happy'), sp!, { sampleRate: 48000, durationS: 0.8, variation }, new Rng(`v/${k}`));
      levels.push(20 * Math.log10(rms(x)));
    }
    const sd = (v: number[]) => Math.sqrt(v.reduce((s, a) => s + (a - v.reduce((p, b) => p + b, 0) / v.length) ** 2, 0) / v.length);
    return sd(levels);
  };
  const none = spread(0);
  const double = spread(2);
  // Loudness is normalised per clip, so without variation only the noise floor moves the level.
  assert.ok(none < 0.05, `level sd without variation: ${none} dB`);
  assert.ok(double > 1, `level sd with variation 2: ${double} dB`);
});
