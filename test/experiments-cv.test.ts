/**
 * Cross-validation with the real stages on a tiny synthetic corpus (4 speakers × 8 classes × 1
 * clip, 2 folds, 1 epoch): every fold stage fans out, the summary fans in, a second run is fully
 * cached, and a learning-rate change reruns only the train, evaluate and summary instances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kindRegistry, runPipelineFile } from '../src/engine/index.js';
import { builtinStageKinds } from '../src/stages/index.js';
import { Rig } from './helpers/rig.js';

const CV = `name: cv-small
seed: 42
stages:
  ingest:
    uses: ingest
    with: { format: synth, synth: { clips_per_class: 1, speakers: 4, duration_s: 0.6, sample_rate: 16000 } }
  split:
    uses: split
    needs: [ingest]
    matrix: { fold: [1, 2] }
    with: { method: speaker_kfold, folds: 2, fold: "\${matrix.fold}", validation: 0.5 }
  resample: { uses: resample, needs: [ingest], with: { rate: 16000 } }
  augment: { uses: augment, needs: [resample, split], with: { copies: [{ type: noise, amount: 0.01 }] } }
  mfcc: { uses: mfcc, needs: [resample, split, augment], with: { n_mfcc: 13, frames: 24 } }
  train: { uses: train, needs: [mfcc], with: { epochs: 1, batch_size: 8 } }
  evaluate: { uses: evaluate, needs: [train, mfcc], with: { png: false } }
  summary: { uses: summarize, needs: [evaluate] }
`;

test('k-fold CV on real stages: fan-out, fan-in, cached rerun, an LR change reruns only train, evaluate and summary', { timeout: 300_000 }, async (t) => {
  const rig = new Rig();
  try {
    rig.write('cv.yaml', CV);
    const run = (overrides: string[] = []) =>
      runPipelineFile(join(rig.dir, 'cv.yaml'), {
        kinds: kindRegistry(builtinStageKinds), overrides, cacheDir: rig.cacheDir, artifactsDir: rig.artifactsDir, dataDir: join(rig.dir, 'data'), jobs: 2,
      });
    const first = await run();
    assert.equal(first.status, 'ok', first.error?.format());
    t.diagnostic(`first run ${first.seconds.toFixed(1)} s`);
    const names = first.stages.map((s) => s.name);
    assert.deepEqual(names, [
      'ingest', 'split@fold=1', 'split@fold=2', 'resample', 'augment@fold=1', 'augment@fold=2', 'mfcc@fold=1', 'mfcc@fold=2',
      'train@fold=1', 'train@fold=2', 'evaluate@fold=1', 'evaluate@fold=2', 'summary',
    ]);
    // The two folds test disjoint speakers that together are the corpus.
    const tested = [1, 2].flatMap((f) => JSON.parse(readFileSync(join(first.stages.find((s) => s.name === `split@fold=${f}`)!.outputDir!, 'split.json'), 'utf8')).speakers.test);
    assert.deepEqual(tested.sort(), ['s01', 's02', 's03', 's04']);
    const summary = JSON.parse(readFileSync(join(first.stages.find((s) => s.name === 'summary')!.outputDir!, 'metrics.json'), 'utf8'));
    assert.deepEqual(Object.keys(summary.test.accuracy.perFold), ['fold=1', 'fold=2']);
    assert.equal(summary.test.pooled.samples, 32, 'every clip is tested once over the folds');
    assert.equal(typeof first.metrics.summary!.test_accuracy_mean, 'number');

    const second = await run();
    assert.ok(second.stages.every((s) => s.status === 'cached'), 'second run fully cached');

    const lr = await run(['train.lr.initial=0.0005']);
    const ran = lr.stages.filter((s) => s.status === 'ran').map((s) => s.name);
    assert.deepEqual(ran, ['train@fold=1', 'train@fold=2', 'evaluate@fold=1', 'evaluate@fold=2', 'summary']);
    assert.ok(lr.stages.filter((s) => !ran.includes(s.name)).every((s) => s.status === 'cached'));
  } finally {
    rig.cleanup();
  }
});
