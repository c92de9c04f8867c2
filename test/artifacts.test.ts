/**
 * The artifact owners: what a writer writes, its reader reads back, and a damaged file is a
 * typed error naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFrontend, writeFrontend, type FrontendConfig } from '../src/audio/frontend.js';
import { readFeatureSet, readLabelIds, writeFeatureSet, type FeatureIndexRow } from '../src/corpus/features-set.js';
import { readManifest, writeManifest, type Manifest } from '../src/corpus/manifest.js';
import { readSplitFile, writeSplitFile, type SplitFile } from '../src/corpus/split-file.js';
import { EmopipeError } from '../src/util/errors.js';
import { writeNpy } from '../src/util/npy.js';

const FRONTEND: FrontendConfig = { sampleRate: 22050, nMfcc: 3, nFft: 2048, hopLength: 512, nMels: 128, fmin: 0, fmax: null, topDb: 80, frames: 2 };

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-artifacts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const isInputError = (file: string, message: RegExp) => (e: unknown) =>
  e instanceof EmopipeError && e.code === 'E_INPUT_MISSING' && e.file === file && message.test(e.message);

test('features set: written, read back, and checked row by row', async (t) => {
  const dir = tmp(t);
  const index: FeatureIndexRow[] = [
    { source: 'a.wav', label: 'sad', speaker: '01', split: 'train', augmentation: null },
    { source: 'a.wav', label: 'sad', speaker: '01', split: 'train', augmentation: { kind: 'noise' } },
    { source: 'b.wav', label: 'angry', speaker: '02', split: 'validation', augmentation: null },
  ];
  const features = Float32Array.from({ length: 3 * 2 * 3 }, (_, i) => i / 7);
  const counts = await writeFeatureSet(dir, {
    features, frames: 2, coefficients: 3, labelIds: Int32Array.from([1, 1, 0]), index, labels: ['angry', 'sad'], synthetic: true, frontend: FRONTEND,
  });
  assert.deepEqual(counts, { train: 1, train_augmented: 1, validation: 1 });
  const set = readFeatureSet(dir);
  assert.deepEqual([set.rows, set.frames, set.coefficients], [3, 2, 3]);
  assert.deepEqual(set.features, features);
  assert.deepEqual(set.index, index);
  assert.deepEqual(set.meta, { synthetic: true, frontend: FRONTEND, labels: ['angry', 'sad'], counts });
  assert.deepEqual(readLabelIds(dir, set.index), { labelIds: Int32Array.from([1, 1, 0]), labels: ['angry', 'sad'] });

  // labels.npy naming a class index.json does not give that row
  writeNpy(join(dir, 'labels.npy'), { dtype: 'int32', shape: [3], data: Int32Array.from([1, 0, 0]) });
  assert.throws(() => readLabelIds(dir, set.index), isInputError(join(dir, 'labels.npy'), /row 1 has label index 0 but index.json says "sad"/));
  // index.json out of step with features.npy
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index.slice(1)));
  assert.throws(() => readFeatureSet(dir), isInputError(join(dir, 'index.json'), /2 rows but features.npy has 3/));
  writeFileSync(join(dir, 'index.json'), '[{');
  assert.throws(() => readFeatureSet(dir), isInputError(join(dir, 'index.json'), /not valid JSON/));
  rmSync(join(dir, 'features.npy'));
  assert.throws(() => readFeatureSet(dir), isInputError(join(dir, 'features.npy'), /not found/));
});

test('frontend.json: written, read back, and a damaged one names the file and the field', (t) => {
  const dir = tmp(t);
  writeFrontend(dir, FRONTEND);
  assert.deepEqual(readFrontend(dir), FRONTEND);
  const path = join(dir, 'frontend.json');
  writeFileSync(path, JSON.stringify({ ...FRONTEND, nMfcc: '40', fmax: 'half' }));
  assert.throws(() => readFrontend(dir), (e: unknown) => e instanceof EmopipeError && e.code === 'E_MODEL' && e.file === path && /nMfcc, fmax/.test(e.message));
  rmSync(path);
  assert.throws(() => readFrontend(dir), (e: unknown) => e instanceof EmopipeError && e.code === 'E_NOT_FOUND');
});

test('split.json and manifest.json: written and read back', async (t) => {
  const dir = tmp(t);
  const split: SplitFile = {
    method: 'speaker', seed: 's', counts: { train: 1, validation: 1, test: 0 },
    speakers: { train: ['01'], validation: ['02'], test: [] },
    byLabel: { sad: { train: 1, validation: 1, test: 0 } },
    bySpeaker: { '01': { train: 1, validation: 0, test: 0 }, '02': { train: 0, validation: 1, test: 0 } },
    assignments: { 'a.wav': 'train', 'b.wav': 'validation' },
  };
  await writeSplitFile(dir, split);
  assert.deepEqual(await readSplitFile(dir), split);
  const manifest: Manifest = {
    format: 'folder', root: '/corpus', synthetic: false, labels: ['sad'],
    rows: [{ path: 'sad/a.wav', sha256: 'ab', label: 'sad', speaker: '01', sampleRate: 16000, channels: 1, durationS: 1, bitsPerSample: 16 }],
    report: { scanned: 1, included: 1, skipped: [], corrupt: [], stereo: [], byLabel: { sad: 1 }, bySpeaker: { '01': 1 } },
  };
  await writeManifest(dir, manifest);
  assert.deepEqual(await readManifest(dir), manifest);
  assert.ok(readFileSync(join(dir, 'manifest.json'), 'utf8').endsWith('\n'));
});
