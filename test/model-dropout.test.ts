/** Dropout masks: drawn in bulk, equal to the element-by-element definition, at the right rate. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillDropoutMask } from '../src/model/data.js';
import { Rng } from '../src/util/rng.js';

test('Rng.fillUint32 continues the nextUint32 sequence exactly', () => {
  const a = new Rng('bulk');
  const b = new Rng('bulk');
  const bulk = new Uint32Array(1001);
  a.fillUint32(bulk);
  for (let i = 0; i < bulk.length; i++) assert.equal(bulk[i], b.nextUint32(), `draw ${i}`);
  assert.equal(a.nextUint32(), b.nextUint32());
});

test('dropout mask: 16 random bits per element, keep / (1 - rate) where kept', () => {
  for (const [n, rate] of [[4097, 0.3], [10, 0.5], [1, 0.3], [64, 0]] as const) {
    const rng = new Rng(`mask:${n}`);
    const ref = new Rng(`mask:${n}`);
    const mask = new Float32Array(n);
    fillDropoutMask(rng, mask, rate);
    const threshold = Math.round(rate * 65536);
    const keep = Math.fround(1 / (1 - rate));
    for (let i = 0; i < n; i += 2) {
      const u = ref.nextUint32();
      assert.equal(mask[i], (u & 0xffff) >= threshold ? keep : 0, `element ${i}`);
      if (i + 1 < n) assert.equal(mask[i + 1], u >>> 16 >= threshold ? keep : 0, `element ${i + 1}`);
    }
    assert.equal(rng.nextUint32(), ref.nextUint32(), 'the generator advanced by ceil(n / 2) draws');
  }
  const big = new Float32Array(200_000);
  fillDropoutMask(new Rng('rate'), big, 0.3);
  const kept = big.reduce((acc, v) => acc + (v > 0 ? 1 : 0), 0) / big.length;
  assert.ok(Math.abs(kept - 0.7) < 0.005, `kept fraction ${kept}`);
});
