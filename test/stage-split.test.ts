import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { computeSplit, splitKind, type SplitFile, type SplitParams } from '../src/stages/split.js';
import type { Manifest, ManifestRow } from '../src/corpus/manifest.js';
import { EmopipeError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { makeStageContext, resolveParams, tempDir } from './helpers/stage-context.js';

const LABELS = ['neutral', 'calm', 'happy', 'sad'];

/** A RAVDESS-shaped corpus: 8 speakers, per speaker 4 neutral and 8 of every other label. */
function fakeRows(): ManifestRow[] {
  const rows: ManifestRow[] = [];
  for (let s = 1; s <= 8; s++) {
    const speaker = String(s).padStart(2, '0');
    for (const label of LABELS) {
      const n = label === 'neutral' ? 4 : 8;
      for (let k = 0; k < n; k++) {
        rows.push({ path: `Actor_${speaker}/${label}-${k}.wav`, sha256: `${speaker}${label}${k}`, label, speaker, sampleRate: 48000, channels: 1, durationS: 3, bitsPerSample: 16 });
      }
    }
  }
  return rows;
}
const manifest = { rows: fakeRows() };
const params = (p: Partial<SplitParams>): SplitParams => resolveParams(splitKind, p);

test('random: stratified by label, a fifth of each label validates, every clip assigned once', () => {
  const s = computeSplit(manifest, params({}), new Rng('seed-1/split'));
  assert.equal(Object.keys(s.assignments).length, manifest.rows.length);
  for (const label of LABELS) {
    const n = manifest.rows.filter((r) => r.label === label).length;
    assert.equal(s.byLabel[label]!.validation, Math.round(n * 0.2), label);
    assert.equal(s.byLabel[label]!.test, 0);
    assert.equal(s.byLabel[label]!.train, n - Math.round(n * 0.2));
  }
  assert.equal(s.counts.train + s.counts.validation, manifest.rows.length);
  assert.equal(s.method, 'random');
  assert.equal(s.seed, 'seed-1/split');
});

test('random with a test fraction; same seed same split, another seed another split; row order irrelevant', () => {
  const p = params({ validation: 0.2, test: 0.1 });
  const a = computeSplit(manifest, p, new Rng('a'));
  const again = computeSplit({ rows: [...manifest.rows].reverse() }, p, new Rng('a'));
  const b = computeSplit(manifest, p, new Rng('b'));
  assert.deepEqual(again, a);
  assert.notDeepEqual(b.assignments, a.assignments);
  assert.deepEqual(b.counts, a.counts);
  assert.equal(a.byLabel.calm!.test, Math.round(64 * 0.1));
  assert.ok(a.counts.test > 0);
});

test('speaker: explicit lists give disjoint speaker sets; every other speaker trains', () => {
  const s = computeSplit(manifest, params({ method: 'speaker', validation: ['06'], test: ['07', '08'] }), new Rng(1));
  assert.deepEqual(s.speakers, { train: ['01', '02', '03', '04', '05'], validation: ['06'], test: ['07', '08'] });
  for (const r of manifest.rows) {
    const want = r.speaker === '06' ? 'validation' : ['07', '08'].includes(r.speaker) ? 'test' : 'train';
    assert.equal(s.assignments[r.path], want, r.path);
  }
  assert.deepEqual(s.bySpeaker['07'], { train: 0, validation: 0, test: 28 });
  assert.deepEqual(s.counts, { train: 140, validation: 28, test: 56 });
});

test('speaker: fractions pick whole speakers, seeded, never overlapping with listed ones', () => {
  const p = params({ method: 'speaker', validation: 0.25, test: ['08'] });
  const a = computeSplit(manifest, p, new Rng('x'));
  assert.equal(a.speakers.validation.length, 2);
  assert.deepEqual(a.speakers.test, ['08']);
  assert.equal(a.speakers.train.length, 5);
  const all = [...a.speakers.train, ...a.speakers.validation, ...a.speakers.test];
  assert.equal(new Set(all).size, 8);
  assert.deepEqual(computeSplit(manifest, p, new Rng('x')), a);
  const others = new Set(['y', 'z', 'w', 'v'].map((seed) => computeSplit(manifest, p, new Rng(seed)).speakers.validation.join()));
  assert.ok(others.size > 1, 'different seeds should choose different validation speakers');
});

test('speaker: unknown ids and overlaps are refused with the known speakers listed', () => {
  assert.throws(() => computeSplit(manifest, params({ method: 'speaker', test: ['21', '02'] }), new Rng(1)), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_PIPELINE_INVALID');
    assert.match(e.message, /unknown speaker id\(s\) "21"/);
    assert.match(e.message, /"01", "02", "03", "04", "05", "06", "07", "08"/);
    return true;
  });
  assert.throws(() => computeSplit(manifest, params({ method: 'speaker', validation: ['01', '02'], test: ['02'] }), new Rng(1)), /02 are in both/);
  assert.throws(() => computeSplit(manifest, params({ method: 'speaker', validation: ['01', '02', '03', '04'], test: ['05', '06', '07', '08'] }), new Rng(1)), /none is left to train/);
  assert.throws(() => computeSplit(manifest, params({ method: 'random', test: ['01'] }), new Rng(1)), /need `method: speaker`/);
  assert.throws(() => computeSplit(manifest, params({ validation: 0.6, test: 0.4 }), new Rng(1)), /must be below 1/);
  assert.throws(() => resolveParams(splitKind, { validation: 1.5 }), /split: /);
  assert.throws(() => resolveParams(splitKind, { test: [21] }), /split: /);
});

test('run() reads the ingest manifest and writes split.json keyed by row path', async () => {
  const base = tempDir('emopipe-split-');
  const ingestDir = join(base, 'ingest');
  mkdirSync(ingestDir);
  const m: Manifest = {
    format: 'ravdess', root: '/corpus', synthetic: false, labels: LABELS, rows: fakeRows(),
    report: { scanned: 0, included: 0, skipped: [], corrupt: [], stereo: [], byLabel: {}, bySpeaker: {} },
  };
  writeFileSync(join(ingestDir, 'manifest.json'), JSON.stringify(m));
  const ctx = makeStageContext<SplitParams>(splitKind, { method: 'speaker', test: ['07', '08'], validation: ['06'] }, {
    baseDir: base, seed: 42, inputs: [{ name: 'ingest', kind: 'ingest', dir: ingestDir }],
  });
  const result = await splitKind.run(ctx);
  const file = JSON.parse(readFileSync(join(ctx.outDir, 'split.json'), 'utf8')) as SplitFile;
  assert.deepEqual(file.counts, { train: 140, validation: 28, test: 56 });
  assert.equal(file.assignments['Actor_07/sad-3.wav'], 'test');
  assert.equal(file.seed, '42/split');
  assert.deepEqual(result?.metrics, { train: 140, validation: 28, test: 56 });
  assert.match(result?.summary ?? '', /speakers: validation 06; test 07,08/);
});

test('run() refuses a corpus with one class, saying how many classes it found and why two are needed', async () => {
  const base = tempDir('emopipe-split-');
  const ingestDir = join(base, 'ingest');
  mkdirSync(ingestDir);
  const rows = fakeRows().filter((r) => r.label === 'sad');
  const m: Manifest = {
    format: 'ravdess', root: '/corpus', synthetic: false, labels: ['sad'], rows,
    report: { scanned: 0, included: 0, skipped: [], corrupt: [], stereo: [], byLabel: {}, bySpeaker: {} },
  };
  writeFileSync(join(ingestDir, 'manifest.json'), JSON.stringify(m));
  const ctx = makeStageContext<SplitParams>(splitKind, {}, { baseDir: base, seed: 1, inputs: [{ name: 'ingest', kind: 'ingest', dir: ingestDir }] });
  await assert.rejects(splitKind.run(ctx), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.match(e.message, /1 class \("sad": 64 clips\)/);
    assert.match(e.message, /at least 2 classes/);
    assert.equal(e.file, join(ingestDir, 'manifest.json'));
    return true;
  });
  assert.equal(existsSync(join(ctx.outDir, 'split.json')), false, 'nothing written');
});
