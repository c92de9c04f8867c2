/**
 * The whole product through the CLI on a small version of pipelines/demo.yaml: run (every
 * stage), rerun (every stage cached), change the LR schedule (only train and evaluate rerun),
 * then predict with the trained model on good and bad files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rig, lastJson } from './helpers/rig.js';
import { packageRoot } from '../src/util/paths.js';
import { encodeWav } from '../src/audio/wav.js';

const demo = join(packageRoot(), 'pipelines', 'demo.yaml');
// Small and quick: 4 speakers x 8 classes x 3 clips, 2 epochs.
const small = [
  'ingest.synth.clips_per_class=3', 'ingest.synth.speakers=4',
  'split.validation=["s03"]', 'split.test=["s04"]', 'train.epochs=2',
];
const set = (list: string[]) => list.flatMap((s) => ['--set', s]);

test('demo pipeline end to end through the CLI: run, cached rerun, schedule change, predict', { timeout: 600_000 }, async (t) => {
  const rig = new Rig();
  try {
    const first = await rig.cli(['run', demo, ...set(small), '--json']);
    assert.equal(first.code, 0, first.stderr);
    const doc = lastJson(first.stdout);
    assert.deepEqual(doc.stages.map((s: { name: string }) => s.name), ['ingest', 'split', 'resample', 'augment', 'mfcc', 'train', 'evaluate']);
    assert.ok(doc.stages.every((s: { status: string }) => s.status === 'ran'));
    t.diagnostic(`first run ${(first.ms / 1000).toFixed(1)} s: ${doc.stages.map((s: { name: string; seconds: number }) => `${s.name} ${s.seconds.toFixed(1)}s`).join(', ')}`);

    // The evaluation is labelled synthetic and the run says where the report is.
    const evalDir = doc.stages.find((s: { name: string }) => s.name === 'evaluate').outputDir as string;
    const metrics = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8'));
    for (const split of ['validation', 'test']) {
      const m = metrics[split];
      assert.ok(m, `metrics.json has ${split}`);
      const n = m.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0);
      const correct = m.confusionMatrix.reduce((a: number, row: number[], i: number) => a + row[i]!, 0);
      assert.equal(n, 24, `${split}: one speaker's 24 clips`);
      assert.ok(Math.abs(m.accuracy - correct / n) < 1e-9, 'accuracy agrees with the confusion matrix');
    }
    assert.match(readFileSync(join(evalDir, 'report.html'), 'utf8'), /synthetic/i);
    const reportLine = /evaluate report: (\S+)/.exec(first.stderr);
    assert.ok(reportLine, 'run prints where the report is');
    assert.ok(existsSync(join(rig.dir, reportLine[1]!)) || existsSync(reportLine[1]!), `${reportLine[1]} exists`);

    const second = await rig.cli(['run', demo, ...set(small), '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(lastJson(second.stdout).stages.every((s: { status: string }) => s.status === 'cached'), 'second run fully cached');
    assert.equal(lastJson(second.stdout).run, doc.run, 'same config, same run hash');

    const third = await rig.cli(['run', demo, ...set([...small, 'train.lr.initial=0.0005']), '--json']);
    assert.equal(third.code, 0, third.stderr);
    const statuses = Object.fromEntries(lastJson(third.stdout).stages.map((s: { name: string; status: string }) => [s.name, s.status]));
    assert.deepEqual(statuses, { ingest: 'cached', split: 'cached', resample: 'cached', augment: 'cached', mfcc: 'cached', train: 'ran', evaluate: 'ran' });

    // predict: a clip of the corpus is classified; a broken file is an error line, not a crash.
    const ingestDir = doc.stages.find((s: { name: string }) => s.name === 'ingest').outputDir as string;
    const manifest = JSON.parse(readFileSync(join(ingestDir, 'manifest.json'), 'utf8'));
    const clip = join(ingestDir, manifest.root, manifest.rows[0].path);
    const broken = rig.write('broken.wav', 'RIFF....WAVEfmt ');
    const tone = rig.write('tone.wav', '');
    const y = new Float32Array(16000).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000));
    writeFileSync(tone, encodeWav(y, { sampleRate: 16000 }));
    const pred = await rig.cli(['predict', '--run', doc.run.slice(0, 12), clip, broken, tone, '--json']);
    assert.equal(pred.code, 1, 'a failed file makes the exit code 1');
    const out = JSON.parse(pred.stdout);
    assert.deepEqual(out.predictions.map((p: { file: string }) => p.file), [clip, tone]);
    for (const p of out.predictions) {
      const sum = Object.values(p.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-3, 'probabilities sum to 1');
      assert.ok(manifest.labels.includes(p.emotion));
    }
    assert.equal(out.errors.length, 1);
    assert.equal(out.errors[0].file, broken);

    // --model DIR gives the same answer as --run for the same model.
    const trainDir = doc.stages.find((s: { name: string }) => s.name === 'train').outputDir as string;
    const byDir = await rig.cli(['predict', '--model', trainDir, clip, '--json']);
    assert.equal(byDir.code, 0, byDir.stderr);
    // Same model, same features; ORT's kernels may round differently for a batch of 1 than of 2.
    const single = JSON.parse(byDir.stdout).predictions[0];
    assert.equal(single.file, out.predictions[0].file);
    assert.equal(single.emotion, out.predictions[0].emotion);
    for (const [label, p] of Object.entries(out.predictions[0].probabilities as Record<string, number>)) {
      assert.ok(Math.abs(single.probabilities[label] - p) <= 2e-6, `${label}: ${single.probabilities[label]} vs ${p}`);
    }

    // #11.5: overwritten weights inside model.onnx are caught by predict --run like any cache read.
    const model = join(trainDir, 'model.onnx');
    const bytes = readFileSync(model);
    bytes[bytes.length >> 1] ^= 0x40;
    writeFileSync(model, bytes);
    const tampered = await rig.cli(['predict', '--run', doc.run.slice(0, 12), clip, '--json']);
    assert.equal(tampered.code, 1, tampered.stderr);
    assert.match(tampered.stderr, /the model of run [0-9a-f]{12} \(cache entry [0-9a-f]{12}\) is corrupt: file model\.onnx fails its CRC-32 check/);
    assert.match(tampered.stderr, /emopipe reproduce/);
    const tamperedDir = await rig.cli(['predict', '--model', trainDir, clip, '--json']);
    assert.equal(tamperedDir.code, 1, tamperedDir.stderr);
    assert.match(tamperedDir.stderr, /is corrupt: file model\.onnx fails its CRC-32 check/);
  } finally {
    rig.cleanup();
  }
});
