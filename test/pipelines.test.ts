import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { kindRegistry, loadPipeline } from '../src/engine/index.js';
import { builtinStageKinds } from '../src/stages/index.js';
import { packageRoot } from '../src/util/paths.js';

const dir = join(packageRoot(), 'pipelines');
const kinds = kindRegistry(builtinStageKinds);
const CONTRACT_STAGES = ['ingest', 'split', 'resample', 'augment', 'mfcc', 'train', 'evaluate'];

for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
  test(`pipelines/${file} is valid and uses the contract stage names`, () => {
    const p = loadPipeline(join(dir, file), { kinds });
    // Matrix instances (train@fold=2) count as their stage; a summarize stage may follow.
    const written = [...new Set(p.stages.map((s) => s.template ?? s.name))];
    assert.deepEqual(written.filter((n) => n !== 'summary'), CONTRACT_STAGES);
    for (const s of p.stages) assert.equal(s.kind.kind, s.name === 'summary' ? 'summarize' : (s.template ?? s.name), `stage ${s.name} uses kind ${s.kind.kind}`);
  });
}

test('the RAVDESS pipelines keep the reference design visible with its defaults', () => {
  for (const file of ['ravdess.yaml', 'ravdess-speaker-independent.yaml']) {
    const p = loadPipeline(join(dir, file), { kinds });
    const params = (name: string) => p.stages.find((s) => s.name === name)!.params as Record<string, any>;
    assert.equal(params('resample').rate, 22050);
    assert.deepEqual(
      [params('mfcc').n_mfcc, params('mfcc').n_fft, params('mfcc').hop_length, params('mfcc').n_mels, params('mfcc').top_db, params('mfcc').frames],
      [40, 2048, 512, 128, 80, 174],
    );
    assert.equal(params('augment').copies.length, 3);
    // The speaker-independent recipe trains to the end of the sixth learning-rate cycle and averages its weights.
    const [epochs, averaged] = file === 'ravdess.yaml' ? [40, 0] : [63, 32];
    assert.deepEqual([params('train').epochs, params('train').batch_size, params('train').lr.schedule], [epochs, 32, 'cosine_decay_restarts']);
    assert.equal(params('train').average_epochs, averaged);
  }
  const cv = loadPipeline(join(dir, 'ravdess-cv.yaml'), { kinds });
  const byName = new Map(cv.stages.map((s) => [s.name, s]));
  assert.deepEqual(cv.stages.filter((s) => s.template === 'train').map((s) => s.name), ['train@fold=1', 'train@fold=2', 'train@fold=3', 'train@fold=4']);
  assert.deepEqual([byName.has('ingest'), byName.has('resample'), byName.get('summary')?.needs.length], [true, true, 4]);
  assert.deepEqual([3, 4].map((f) => (byName.get(`split@fold=${f}`)!.params as Record<string, unknown>).fold), [3, 4]);
  const ref = loadPipeline(join(dir, 'ravdess.yaml'), { kinds });
  for (const stage of ['resample', 'augment', 'mfcc', 'train', 'evaluate']) {
    const inst = cv.stages.find((s) => (s.template ?? s.name) === stage)!;
    assert.deepEqual(inst.params, ref.stages.find((s) => s.name === stage)!.params, `ravdess-cv ${stage} keeps the reference recipe`);
  }
  const si = loadPipeline(join(dir, 'ravdess-speaker-independent.yaml'), { kinds });
  assert.equal((si.stages.find((s) => s.name === 'split')!.params as { method: string }).method, 'speaker');
});
