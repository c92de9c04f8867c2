import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeSplit, splitKind, speakerFolds, type SplitParams } from '../src/stages/split.js';
import type { ManifestRow } from '../src/corpus/manifest.js';
import { Rng } from '../src/util/rng.js';
import { resolveParams } from './helpers/stage-context.js';

/** 16 RAVDESS-like actors (odd male, even female), 3 clips of 2 labels each. */
function rows(n = 16, gender = true): ManifestRow[] {
  const out: ManifestRow[] = [];
  for (let a = 1; a <= n; a++) {
    const actor = String(a).padStart(2, '0');
    for (const label of ['happy', 'sad']) {
      for (let k = 0; k < 3; k++) {
        out.push({
          path: `Actor_${actor}/${label}-${k}.wav`, sha256: `${actor}${label}${k}`, label, speaker: actor, sampleRate: 48000, channels: 1, durationS: 3, bitsPerSample: 16,
          ...(gender ? { ravdess: { gender: a % 2 ? 'male' : 'female' } as ManifestRow['ravdess'] } : {}),
        });
      }
    }
  }
  return out;
}
const p = (o: Partial<SplitParams>): SplitParams => resolveParams(splitKind, { method: 'speaker_kfold', ...o });
const male = (s: string) => Number(s) % 2 === 1;

test('speaker_kfold: 4 folds of 16 actors partition the speakers, 2 male + 2 female each', () => {
  const folds = speakerFolds(rows(), { folds: 4, speaker_folds: null }, new Rng('42/split'));
  assert.equal(folds.length, 4);
  assert.deepEqual(folds.flat().sort(), rows().map((r) => r.speaker).filter((s, i, a) => a.indexOf(s) === i).sort());
  for (const f of folds) assert.deepEqual([f.length, f.filter(male).length], [4, 2], `fold ${f}`);
  // Uneven: 10 speakers in 4 folds → sizes 3,3,2,2 (dealt in turn).
  const uneven = speakerFolds(rows(10), { folds: 4, speaker_folds: null }, new Rng(1));
  assert.deepEqual(uneven.map((f) => f.length).sort(), [2, 2, 3, 3]);
});

test('speaker_kfold: every fold instance agrees on the folds; each speaker tests once; validation comes from training speakers', () => {
  const rng = () => new Rng('42/split');
  const splits = [1, 2, 3, 4].map((fold) => computeSplit({ rows: rows() }, p({ fold, folds: 4 }), rng()));
  const tested = splits.flatMap((s) => s.speakers.test);
  assert.equal(new Set(tested).size, 16, 'every speaker is in exactly one test fold');
  for (const s of splits) {
    assert.deepEqual(s.kfold!.folds, splits[0]!.kfold!.folds);
    assert.deepEqual(s.speakers.test, s.kfold!.folds[s.kfold!.fold - 1]);
    // 12 training actors × 0.2 → 2 validation actors, one of each gender, never from the test fold.
    assert.equal(s.speakers.validation.length, 2);
    assert.equal(s.speakers.validation.filter(male).length, 1);
    for (const v of s.speakers.validation) assert.ok(!s.speakers.test.includes(v));
    assert.equal(s.speakers.train.length, 10);
    assert.equal(s.method, 'speaker_kfold');
  }
  const other = computeSplit({ rows: rows() }, p({ fold: 1 }), new Rng('7/split'));
  assert.notDeepEqual(other.kfold!.folds, splits[0]!.kfold!.folds, 'another seed deals other folds');
  // Without gender in the manifest the folds are still even.
  const noGender = speakerFolds(rows(16, false), { folds: 4, speaker_folds: null }, new Rng(3));
  assert.deepEqual(noGender.map((f) => f.length), [4, 4, 4, 4]);
});

test('speaker_kfold: explicit folds, and clear errors', () => {
  const listed = [['01', '02'], ['03', '04']];
  const s = computeSplit({ rows: rows(6) }, p({ folds: 2, fold: 2, speaker_folds: listed, validation: 0 }), new Rng(1));
  assert.deepEqual(s.speakers.test, ['03', '04']);
  assert.deepEqual(s.speakers.train, ['01', '02', '05', '06'], 'unlisted speakers always train');
  const bad: [Partial<SplitParams>, RegExp][] = [
    [{ folds: 2, fold: 3 }, /split\.fold is 3 but there are only 2 folds/],
    [{ validation: ['01'] }, /takes a fraction/],
    [{ test: 0.2 }, /leave split\.test at 0/],
    [{ folds: 2, speaker_folds: [['01'], ['99']] }, /unknown speaker id "99"/],
    [{ folds: 2, speaker_folds: [['01'], ['01', '02']] }, /"01" is in two folds/],
    [{ folds: 3, speaker_folds: listed }, /lists 2 folds but split\.folds is 3/],
    [{ folds: 20 }, /20 folds need at least 20 speakers/],
  ];
  for (const [o, re] of bad) assert.throws(() => computeSplit({ rows: rows(6) }, p(o), new Rng(1)), re, JSON.stringify(o));
});
