/**
 * Audio files built to make the pipeline misbehave: a header claiming 1 Hz (a small file that
 * "lasts" for hours), a very long clip, and finite float samples of 3e38 that overflow float32
 * inside filters. Each is reported by name and left out; the rest of the corpus goes through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav, inspectWav } from '../src/audio/wav.js';
import { MAX_RESAMPLE_SAMPLES, resample } from '../src/audio/resample.js';
import { loadTask } from '../src/stages/audio-tasks.js';
import { mfccKind, type MfccParams } from '../src/stages/mfcc.js';
import { writeClipSet, type ClipSet } from '../src/stages/clip-store.js';
import { readNpy } from '../src/util/npy.js';
import { EmopipeError } from '../src/util/errors.js';
import { Rig, lastJson } from './helpers/rig.js';
import { makeStageContext } from './helpers/stage-context.js';

const tone = (n: number, rate: number, f = 220) => new Float32Array(n).map((_, i) => 0.3 * Math.sin((2 * Math.PI * f * i) / rate));

test('WAV headers: a sample rate outside 1000-768000 Hz and a clip over the duration limit are refused before decoding', () => {
  const oneHz = encodeWav(new Float32Array(128), { sampleRate: 1 });
  assert.throws(() => inspectWav(oneHz, { file: 'x/one-hz.wav' }), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_WAV_UNSUPPORTED');
    assert.equal(e.format(), 'x/one-hz.wav: unsupported sample rate 1 Hz (read: 1000-768000 Hz)');
    return true;
  });
  assert.throws(() => inspectWav(encodeWav(new Float32Array(8), { sampleRate: 1_000_000 })), /unsupported sample rate 1000000 Hz/);
  const tenSeconds = encodeWav(new Float32Array(10_000), { sampleRate: 1000 });
  assert.equal(inspectWav(tenSeconds, { maxDurationS: 10 }).frames, 10_000);
  assert.throws(() => inspectWav(tenSeconds, { maxDurationS: 9.5 }), /10\.0 s of audio; clips are read up to 9\.5 s/);
  // The resampler checks its output size before allocating anything.
  const t0 = performance.now();
  assert.throws(() => resample(new Float32Array(4), 1, MAX_RESAMPLE_SAMPLES), /exceed the limit/);
  assert.ok(performance.now() - t0 < 1000);
});

test('loadTask: resampled audio that overflows float32 (a 3e38 sample) is an E_AUDIO_NON_FINITE error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-hostile-'));
  try {
    const y = tone(16000, 16000);
    y[100] = 3e38;
    const file = join(dir, 'extreme.wav');
    writeFileSync(file, encodeWav(y, { sampleRate: 16000, format: 'float32' }));
    assert.throws(() => loadTask({ file, rate: 22050 }), (e: unknown) => {
      assert.ok(e instanceof EmopipeError);
      assert.equal(e.code, 'E_AUDIO_NON_FINITE');
      assert.equal(e.file, file);
      assert.match(e.message, /resampled audio \(16000 Hz -> 22050 Hz\): \d+ of 22050 values are not finite/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corpus with a 1 Hz header, an over-long clip and 3e38 samples: each reported by name and left out, the rest runs', { timeout: 180_000 }, async () => {
  const rig = new Rig();
  try {
    const rate = 22050;
    const clip = (label: string, name: string, bytes: Uint8Array) => {
      mkdirSync(join(rig.dir, 'corpus', label), { recursive: true });
      writeFileSync(join(rig.dir, 'corpus', label, name), bytes);
    };
    for (const [label, f] of [['a', 220], ['b', 330]] as const) {
      for (const spk of ['s1', 's2']) {
        for (let k = 0; k < 2; k++) clip(label, `${spk}_${k}.wav`, encodeWav(tone(rate / 2, rate, f + 10 * k), { sampleRate: rate }));
      }
    }
    // Case 10: 200 bytes claiming 1 Hz (100 s), and 601 s at a legal 1000 Hz.
    clip('a', 's1_onehz.wav', encodeWav(tone(100, 1), { sampleRate: 1 }));
    clip('a', 's1_long.wav', encodeWav(tone(601_000, 1000, 50), { sampleRate: 1000 }));
    // Case 11: one 3e38 sample; at 16 kHz it overflows in resampling, at 22050 Hz (no resampling)
    // it passes resample and overflows in the pitch and speed copies.
    const extreme16k = tone(8000, 16000);
    extreme16k[100] = 3e38;
    clip('b', 's1_extreme16k.wav', encodeWav(extreme16k, { sampleRate: 16000, format: 'float32' }));
    const extreme22k = tone(rate / 2, rate);
    extreme22k[3000] = 3e38;
    clip('b', 's1_extreme22k.wav', encodeWav(extreme22k, { sampleRate: rate, format: 'float32' }));

    rig.write('p.yaml', `name: hostile
stages:
  ingest:
    uses: ingest
    with: { format: folder, root: corpus, speaker_regex: '^[ab]/(s\\d)_' }
  split:
    uses: split
    needs: [ingest]
    with: { method: speaker, validation: ["s2"] }
  resample:
    uses: resample
    needs: [ingest]
    with: { rate: ${rate} }
  augment:
    uses: augment
    needs: [resample, split]
    with:
      copies:
        - { type: pitch, semitones: [1, 2] }
        - { type: speed, factor: [1.05, 1.1] }
  mfcc:
    uses: mfcc
    needs: [resample, split, augment]
    with: { frames: 20 }
`);
    const r = await rig.cli(['run', 'p.yaml', '--json', '-j', '2']);
    assert.equal(r.code, 0, r.stderr);
    const dirOf = (name: string) => lastJson(r.stdout).stages.find((s: { name: string }) => s.name === name).outputDir as string;
    const json = (stage: string, file: string) => JSON.parse(readFileSync(join(dirOf(stage), file), 'utf8'));

    const manifest = json('ingest', 'manifest.json');
    assert.deepEqual(manifest.report.corrupt.map((c: { path: string }) => c.path), ['a/s1_onehz.wav']);
    assert.match(manifest.report.corrupt[0].error, /a\/s1_onehz\.wav: unsupported sample rate 1 Hz/);

    const resampled: ClipSet = json('resample', 'clips.json');
    assert.deepEqual(resampled.failed.map((f) => f.path).sort(), ['a/s1_long.wav', 'b/s1_extreme16k.wav']);
    assert.match(resampled.failed.find((f) => f.path === 'a/s1_long.wav')!.error, /601\.0 s of audio; clips are read up to 600 s/);
    assert.match(resampled.failed.find((f) => f.path === 'b/s1_extreme16k.wav')!.error, /s1_extreme16k\.wav: resampled audio .* not finite/);
    assert.match(r.stderr, /s1_long\.wav/);

    const augmented: ClipSet = json('augment', 'clips.json');
    assert.deepEqual(augmented.failed.map((f) => f.path), ['b/s1_extreme22k.wav', 'b/s1_extreme22k.wav']);
    assert.match(augmented.failed[0]!.error, /^pitch copy 0: pitch augmentation: \d+ of \d+ values are not finite/);
    assert.equal(augmented.clips.length, 2 * 5 - 2, 'two copies of each of the 5 training clips, less the 2 non-finite ones');
    assert.match(r.stderr, /left out b\/s1_extreme22k\.wav, pitch copy 0/);

    const index = json('mfcc', 'index.json') as { source: string; augmentation: unknown }[];
    const sources = new Set(index.map((row) => row.source));
    for (const bad of ['a/s1_onehz.wav', 'a/s1_long.wav', 'b/s1_extreme16k.wav']) assert.ok(!sources.has(bad), `${bad} left out`);
    assert.equal(index.length, 9 + 8, '9 original clips and 8 augmented copies');
    const features = readNpy(join(dirOf('mfcc'), 'features.npy')).data as Float32Array;
    assert.ok(features.every((v) => Number.isFinite(v)), 'every feature is finite');
  } finally {
    rig.cleanup();
  }
});

test('mfcc leaves out and reports a clip with non-finite audio (the mel floor would turn it into silence)', async () => {
  const base = mkdtempSync(join(tmpdir(), 'emopipe-hostile-mfcc-'));
  try {
    const rate = 16000;
    const resampleDir = join(base, 'resample');
    const splitDir = join(base, 'split');
    mkdirSync(resampleDir);
    mkdirSync(splitDir);
    const bad = tone(rate / 2, rate);
    bad[10] = Infinity;
    await writeClipSet(resampleDir, { sampleRate: rate, labels: ['a', 'b'], synthetic: false, failed: [] }, [
      { clip: { source: 'a/good.wav', label: 'a', speaker: 's1', augmentation: null }, y: tone(rate / 2, rate) },
      { clip: { source: 'b/bad.wav', label: 'b', speaker: 's1', augmentation: null }, y: bad },
      { clip: { source: 'b/good.wav', label: 'b', speaker: 's1', augmentation: null }, y: tone(rate / 2, rate, 440) },
    ]);
    writeFileSync(join(splitDir, 'split.json'), JSON.stringify({ assignments: { 'a/good.wav': 'train', 'b/bad.wav': 'train', 'b/good.wav': 'validation' } }));
    const ctx = makeStageContext<MfccParams>(mfccKind, { frames: 10 }, {
      baseDir: base,
      inputs: [{ name: 'resample', kind: 'resample', dir: resampleDir }, { name: 'split', kind: 'split', dir: splitDir }],
    });
    await mfccKind.run(ctx);
    const index = JSON.parse(readFileSync(join(ctx.outDir, 'index.json'), 'utf8')) as { source: string }[];
    assert.deepEqual(index.map((r) => r.source), ['a/good.wav', 'b/good.wav']);
    const meta = JSON.parse(readFileSync(join(ctx.outDir, 'meta.json'), 'utf8'));
    assert.equal(meta.left_out.length, 1);
    assert.equal(meta.left_out[0].source, 'b/bad.wav');
    assert.match(meta.left_out[0].error, /input audio: 1 of 8000 values are not finite \(first at index 10\)/);
    assert.ok(ctx.logs.some((l) => l.startsWith('warn: left out b/bad.wav')));
    assert.deepEqual(readNpy(join(ctx.outDir, 'features.npy')).shape, [2, 10, 40]);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
