import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averageSpeaker, groupStats, normaliseGroups, normaliseWith } from '../src/audio/group-norm.js';
import { normaliseUtterance } from '../src/audio/features.js';
import { speakerGroup } from '../src/stages/mfcc.js';

const frames = 6;
const dims = 3;
function rows(n: number, seed: number): Float32Array {
  const x = new Float32Array(n * frames * dims);
  let s = seed;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x[i] = (s / 2147483648) * 10 - 3 + (i % dims);
  }
  return x;
}

test('normaliseGroups: each group has mean 0 and std 1 per dimension over its valid frames; padding stays 0', () => {
  const x = rows(4, 1);
  const valid = [6, 4, 5, 3];
  // zero padding beyond each row's valid frames, as the mfcc stage writes it
  valid.forEach((v, r) => x.fill(0, r * frames * dims + v * dims, (r + 1) * frames * dims));
  normaliseGroups({ data: x, frames, dims, valid }, ['a', 'b', 'a', 'b']);
  for (const [group, members] of [['a', [0, 2]], ['b', [1, 3]]] as const) {
    for (let d = 0; d < dims; d++) {
      const vals = members.flatMap((r) => Array.from({ length: valid[r]! }, (_, t) => x[r * frames * dims + t * dims + d]!));
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
      assert.ok(Math.abs(mean) < 1e-5, `group ${group} dim ${d} mean ${mean}`);
      assert.ok(Math.abs(std - 1) < 1e-5, `group ${group} dim ${d} std ${std}`);
    }
  }
  valid.forEach((v, r) => {
    for (let i = r * frames * dims + v * dims; i < (r + 1) * frames * dims; i++) assert.equal(x[i], 0);
  });
});

test('normaliseGroups: a group of one clip is normaliseUtterance (cmvn utterance) on that clip', () => {
  const x = rows(1, 7);
  const ref = Float64Array.from(x.subarray(0, 5 * dims));
  normaliseUtterance(ref, 5, dims);
  normaliseGroups({ data: x, frames, dims, valid: [5] }, ['only']);
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(x[i]! - ref[i]!) < 1e-5, `${i}: ${x[i]} vs ${ref[i]}`);
});

test('speakerGroup: originals share their speaker\'s group; each augmented copy is a group of its own', () => {
  assert.equal(speakerGroup({ speaker: '03', augmentation: null }), '03');
  assert.equal(speakerGroup({ speaker: '03', augmentation: { type: 'noise', copy: 0 } }), '03#copy0');
  assert.notEqual(speakerGroup({ speaker: '03', augmentation: { type: 'pitch', copy: 1 } }), speakerGroup({ speaker: '04', augmentation: { type: 'pitch', copy: 1 } }));
});

test('averageSpeaker: mean of the speakers\' means, root mean square of their deviations; normaliseWith applies them', () => {
  const x = rows(2, 3);
  const valid = [6, 6];
  const stats = groupStats({ data: x, frames, dims, valid }, ['a', 'b']);
  const avg = averageSpeaker([...stats.values()]);
  const [a, b] = [stats.get('a')!, stats.get('b')!];
  for (let d = 0; d < dims; d++) {
    assert.ok(Math.abs(avg.mean[d]! - (a.mean[d]! + b.mean[d]!) / 2) < 1e-9);
    assert.ok(Math.abs(avg.std[d]! - Math.sqrt((a.std[d]! ** 2 + b.std[d]! ** 2) / 2)) < 1e-9);
  }
  const y = x.slice();
  normaliseWith({ data: y, frames, dims, valid }, a, [0]);
  const z = x.slice();
  normaliseGroups({ data: z, frames, dims, valid }, ['a', 'b']);
  for (let i = 0; i < frames * dims; i++) assert.ok(Math.abs(y[i]! - z[i]!) < 1e-6);
  for (let i = frames * dims; i < 2 * frames * dims; i++) assert.equal(y[i], x[i], 'rows not named are left alone');
});
