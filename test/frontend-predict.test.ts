/**
 * Whatever the front end does (trim, deltas, per-utterance normalisation), `predict` on a clip
 * must give the probabilities the evaluate path gives for that clip's row of features.npy: a
 * tiny model trained through the engine on real RAVDESS clips from ../shared, then both paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kindRegistry, runPipelineFile } from '../src/engine/index.js';
import { loadClassifier } from '../src/model/infer.js';
import { predictFiles, readFrontend } from '../src/predict/predict.js';
import { featuresOfWav } from '../src/predict/wav-features.js';
import { builtinStageKinds } from '../src/stages/index.js';
import { readNpy } from '../src/util/npy.js';
import { sharedDir } from '../src/util/paths.js';
import { featureOptionsOf, frontendOf, mfccKind } from '../src/stages/mfcc.js';
import { resolveParams } from './helpers/stage-context.js';

const corpus = join(sharedDir(), 'data', 'ravdess');
const skip = existsSync(corpus) ? false : `RAVDESS sample not found at ${corpus}`;

const pipeline = (cmvn: string) => `
name: frontend-predict
seed: 7
stages:
  ingest: { uses: ingest, with: { format: ravdess } }
  split: { uses: split, needs: [ingest], with: { method: speaker, validation: ["02"], test: ["03"] } }
  resample: { uses: resample, needs: [ingest], with: { rate: 22050 } }
  mfcc:
    uses: mfcc
    needs: [resample, split]
    with: { n_mfcc: 20, n_mels: 40, frames: 120, trim: true, deltas: 2, cmvn: ${cmvn} }
  train:
    uses: train
    needs: [mfcc]
    with:
      epochs: 1
      batch_size: 8
      threads: 1
      architecture: { conv_blocks: [{ filters: 4, kernel: 3, dropout: 0.1 }], lstm_units: 8, dropout: 0.2 }
`;

for (const cmvn of ['utterance', 'speaker'] as const) {
test(`predict == the evaluate path on the features rows, with trim + deltas + cmvn ${cmvn}`, { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-frontend-'));
  try {
    // Three actors, one clip per emotion each (24 clips): enough to train one epoch of a tiny model.
    const root = join(dir, 'corpus');
    for (const actor of ['01', '02', '03']) {
      const from = join(corpus, `Actor_${actor}`);
      mkdirSync(join(root, `Actor_${actor}`), { recursive: true });
      const seen = new Set<string>();
      for (const f of readdirSync(from).sort()) {
        const emotion = f.split('-')[2]!;
        if (seen.has(emotion)) continue;
        seen.add(emotion);
        symlinkSync(join(from, f), join(root, `Actor_${actor}`, f));
      }
    }
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, pipeline(cmvn));
    const result = await runPipelineFile(file, {
      cacheDir: join(dir, 'cache'), artifactsDir: join(dir, 'artifacts'), dataDir: join(dir, 'data'), jobs: 1,
      kinds: kindRegistry(builtinStageKinds), overrides: [`ingest.root=${root}`],
    });
    assert.equal(result.status, 'ok', result.error?.message);
    const out = (name: string) => result.stages.find((s) => s.name === name)!.outputDir!;

    const trainDir = out('train');
    const frontend = readFrontend(trainDir);
    assert.equal(frontend.deltas, 2);
    assert.equal(frontend.cmvn, cmvn);
    assert.deepEqual(frontend.trim, { topDb: 60, frameLength: 2048, hopLength: 512 });

    const features = readNpy(join(out('mfcc'), 'features.npy'));
    assert.deepEqual(features.shape, [24, 120, 60]);
    const index = JSON.parse(readFileSync(join(out('mfcc'), 'index.json'), 'utf8')) as { source: string; split: string }[];
    // cmvn speaker: predict is given all of the test speaker's clips together, as its statistics
    // in training came from all of them; cmvn utterance: any three clips.
    const rows = index.flatMap((r, i) => (r.split === 'test' ? [i] : [])).slice(0, cmvn === 'speaker' ? undefined : 3);
    const per = 120 * 60;
    const clf = await loadClassifier(join(trainDir, 'model.onnx'), { threads: 1 });
    const x = new Float32Array(rows.length * per);
    rows.forEach((r, j) => x.set((features.data as Float32Array).subarray(r * per, (r + 1) * per), j * per));
    const evaluated = await clf.predict(x, rows.length);
    await clf.close();

    const files = rows.map((r) => join(root, index[r]!.source));
    const predicted = await predictFiles(trainDir, files, frontend, { threads: 1 });
    assert.equal(predicted.errors.length, 0, JSON.stringify(predicted.errors));
    let worst = 0;
    predicted.predictions.forEach((p, j) => {
      Object.values(p.probabilities).forEach((v, k) => (worst = Math.max(worst, Math.abs(v - evaluated[j * 8 + k]!))));
    });
    // predict rounds its probabilities to 1e-6; anything more would be a front-end difference.
    assert.ok(worst <= 1e-6, `predict vs evaluate differ by ${worst}`);
    if (cmvn === 'speaker') {
      assert.equal(rows.length, 8);
      assert.match(predicted.normalisation ?? '', /8 files given together/);
      // The average training speaker (actor 01 here) is recorded for clips predicted alone.
      assert.equal(frontend.speakerStats?.mean.length, 60);
      assert.equal(frontend.speakerStats?.std.length, 60);
      // One clip alone is normalised by those statistics: not what evaluate saw, but what the
      // server and the browser compute for one upload.
      const alone = await predictFiles(trainDir, files.slice(0, 1), frontend, { threads: 1 });
      assert.match(alone.normalisation ?? '', /average training speaker/);
      const gap = Math.max(...Object.values(alone.predictions[0]!.probabilities).map((v, k) => Math.abs(v - evaluated[k]!)));
      assert.ok(gap > 1e-6, 'a lone clip is normalised differently');
      const upload = featuresOfWav(new Uint8Array(readFileSync(files[0]!)), frontend, 'upload');
      const clf2 = await loadClassifier(join(trainDir, 'model.onnx'), { threads: 1 });
      const served = await clf2.predict(upload, 1);
      await clf2.close();
      const drift = Math.max(...Object.values(alone.predictions[0]!.probabilities).map((v, k) => Math.abs(v - served[k]!)));
      assert.ok(drift <= 1e-5, `predict alone vs server/browser path differ by ${drift}`);
      const separate = await predictFiles(trainDir, files.slice(0, 2), frontend, { threads: 1, separateSpeakers: true });
      assert.deepEqual(separate.predictions[0]!.probabilities, alone.predictions[0]!.probabilities);
    } else {
      assert.equal(predicted.normalisation, undefined);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
}

test('default mfcc params record the front end exactly as before (no new keys), so default outputs keep their content hash', () => {
  const p = resolveParams(mfccKind, {});
  const f = frontendOf(p, 22050);
  assert.deepEqual(Object.keys(f), ['sampleRate', 'nMfcc', 'nFft', 'hopLength', 'nMels', 'fmin', 'fmax', 'topDb', 'frames']);
  // A frontend.json written before the options existed reads as the defaults.
  assert.deepEqual(featureOptionsOf(f), { features: 'mfcc', deltas: 0, cmvn: 'none', trim: null });
  const g = frontendOf(resolveParams(mfccKind, { features: 'logmel', deltas: 1, trim: true, trim_top_db: 40 }), 16000);
  assert.equal(g.features, 'logmel');
  assert.equal(g.deltas, 1);
  assert.equal(g.cmvn, undefined);
  assert.deepEqual(g.trim, { topDb: 40, frameLength: 2048, hopLength: 512 });
});
