/**
 * The feature path (ingest → split → resample → augment → mfcc) end to end on the real RAVDESS
 * sample in ../shared/data/ravdess, through the engine, as `emopipe run pipelines/ravdess.yaml mfcc`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { kindRegistry, runPipelineFile, type RunResult } from '../src/engine/index.js';
import { builtinStageKinds } from '../src/stages/index.js';
import { readNpy } from '../src/util/npy.js';
import { packageRoot, sharedDir } from '../src/util/paths.js';

const corpus = join(sharedDir(), 'data', 'ravdess');
const fixtures = join(sharedDir(), 'fixtures', 'librosa', 'ravdess');
const pipeline = join(packageRoot(), 'pipelines', 'ravdess.yaml');
const kinds = kindRegistry(builtinStageKinds);
const skip = existsSync(corpus) ? false : `RAVDESS sample not found at ${corpus}`;

function engine(dir: string) {
  return { cacheDir: join(dir, 'cache'), artifactsDir: join(dir, 'artifacts'), dataDir: join(dir, 'data'), jobs: 2, kinds };
}
const stage = (r: RunResult, name: string) => r.stages.find((s) => s.name === name)!;
const statuses = (r: RunResult) => Object.fromEntries(r.stages.map((s) => [s.name, s.status]));

test('RAVDESS feature path: stereo mixed down, features match librosa, reruns are cached', { skip, timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-ravdess-'));
  try {
    const overrides = [`ingest.root=${corpus}`];
    const first = await runPipelineFile(pipeline, { ...engine(dir), overrides, targets: ['mfcc'] });
    assert.equal(first.status, 'ok', first.error?.message);
    assert.deepEqual(first.stages.map((s) => s.name), ['ingest', 'split', 'resample', 'augment', 'mfcc']);
    for (const s of first.stages) t.diagnostic(`${s.name}: ${s.seconds.toFixed(1)} s`);

    const manifest = JSON.parse(readFileSync(join(stage(first, 'ingest').outputDir!, 'manifest.json'), 'utf8'));
    assert.equal(manifest.rows.length, 480);
    assert.equal(manifest.report.corrupt.length, 0);
    assert.ok(manifest.report.stereo.length >= 2, 'the stereo files are reported');
    const clips = JSON.parse(readFileSync(join(stage(first, 'resample').outputDir!, 'clips.json'), 'utf8'));
    assert.equal(clips.failed.length, 0);
    assert.equal(clips.notes.mixedDown, manifest.report.stereo.length);

    const mfccDir = stage(first, 'mfcc').outputDir!;
    const features = readNpy(join(mfccDir, 'features.npy'));
    const index = JSON.parse(readFileSync(join(mfccDir, 'index.json'), 'utf8')) as { source: string; split: string; augmentation: unknown }[];
    const originals = index.filter((r) => r.augmentation === null);
    const trainOriginals = originals.filter((r) => r.split === 'train').length;
    assert.equal(originals.length, 480);
    assert.equal(index.length, 480 + 3 * trainOriginals, 'three augmented copies of every training clip, none of the others');
    assert.ok(index.every((r) => r.augmentation === null || r.split === 'train'));
    assert.deepEqual(features.shape, [index.length, 174, 40]);
    assert.equal(readNpy(join(mfccDir, 'labels.npy')).shape[0], index.length);

    // The rows of the clips librosa computed must match (tolerance of the audio front end: 0.05).
    let worst = 0;
    for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.mfcc174.f32'))) {
      const name = basename(f, '.mfcc174.f32');
      const ref = new Float32Array(new Uint8Array(readFileSync(join(fixtures, f))).buffer);
      const row = index.findIndex((r) => r.augmentation === null && basename(r.source, '.wav') === name);
      assert.ok(row >= 0, `${name} is in the features`);
      const got = features.data.subarray(row * 174 * 40, (row + 1) * 174 * 40);
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i]! - ref[i]!));
      t.diagnostic(`${name}: max abs MFCC error vs librosa ${err.toExponential(2)}`);
      worst = Math.max(worst, err);
    }
    assert.ok(worst <= 0.05, `MFCC error ${worst}`);

    const second = await runPipelineFile(pipeline, { ...engine(dir), overrides, targets: ['mfcc'] });
    assert.deepEqual(Object.values(statuses(second)), ['cached', 'cached', 'cached', 'cached', 'cached']);

    const third = await runPipelineFile(pipeline, {
      ...engine(dir), overrides: [...overrides, 'augment.copies=[{type: noise, amount: 0.02}]'], targets: ['mfcc'],
    });
    assert.deepEqual(statuses(third), { ingest: 'cached', split: 'cached', resample: 'cached', augment: 'ran', mfcc: 'ran' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt WAV dropped into a copy of the corpus is reported by name and the run completes', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-corrupt-'));
  try {
    // A small copy: one actor's files as symlinks, plus one corrupt file with a valid RAVDESS name.
    const actor = join(dir, 'corpus', 'Actor_01');
    mkdirSync(actor, { recursive: true });
    for (const f of readdirSync(join(corpus, 'Actor_01'))) symlinkSync(join(corpus, 'Actor_01', f), join(actor, f));
    const bad = '03-01-03-02-02-02-01.wav';
    rmSync(join(actor, bad));
    writeFileSync(join(actor, bad), Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1'), Buffer.alloc(6)]));
    const overrides = [`ingest.root=${join(dir, 'corpus')}`, 'augment.copies=[]'];
    const r = await runPipelineFile(pipeline, { ...engine(dir), overrides, targets: ['mfcc'] });
    assert.equal(r.status, 'ok', r.error?.message);
    const manifest = JSON.parse(readFileSync(join(stage(r, 'ingest').outputDir!, 'manifest.json'), 'utf8'));
    assert.equal(manifest.rows.length, 59);
    assert.deepEqual(manifest.report.corrupt.map((c: { path: string }) => basename(c.path)), [bad]);
    assert.ok(String(stage(r, 'ingest').result.summary ?? JSON.stringify(stage(r, 'ingest').result.metrics)).length > 0);
    assert.equal(readNpy(join(stage(r, 'mfcc').outputDir!, 'features.npy')).shape[0], 59);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
