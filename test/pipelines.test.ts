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
    assert.deepEqual(p.stages.map((s) => s.name), CONTRACT_STAGES);
    for (const s of p.stages) assert.equal(s.kind.kind, s.name, `stage ${s.name} uses kind ${s.kind.kind}`);
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
    assert.deepEqual([params('train').epochs, params('train').batch_size, params('train').lr.schedule], [40, 32, 'cosine_decay_restarts']);
  }
  const si = loadPipeline(join(dir, 'ravdess-speaker-independent.yaml'), { kinds });
  assert.equal((si.stages.find((s) => s.name === 'split')!.params as { method: string }).method, 'speaker');
});
