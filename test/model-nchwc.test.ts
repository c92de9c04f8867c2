/**
 * Graphs lowered onto ONNX Runtime's NCHWc kernels (src/model/nchwc.ts) compute what the portable
 * graphs compute. The training step is checked against PyTorch in model-fixture.test.ts; here the
 * validation graph (convolutions and MaxPool lowered, weights fed) against the portable one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ARCHITECTURE } from '../src/model/architecture.js';
import { initialWeights } from '../src/model/init.js';
import { buildEvalGraph, modelLayout } from '../src/model/model-graphs.js';
import { nchwcBlockSize } from '../src/model/nchwc.js';
import { createSession, loadOrt } from '../src/model/ort.js';
import { Rng } from '../src/util/rng.js';

test('validation graph on NCHWc kernels gives the portable graph\'s probabilities', async (t) => {
  const ort = await loadOrt();
  const block = await nchwcBlockSize(ort);
  if (!block) return t.skip('this ONNX Runtime build has no NCHWc kernels (or EMOPIPE_NO_NCHWC=1)');
  const layout = modelLayout(DEFAULT_ARCHITECTURE, 24, 16, 5);
  const rng = new Rng('nchwc-eval');
  const w = initialWeights(layout, rng);
  const n = 6;
  const feeds = {
    input: new ort.Tensor('float32', Float32Array.from({ length: n * 24 * 16 }, () => rng.normal()), [n, 24, 16]),
    params: new ort.Tensor('float32', w.params, [layout.paramCount]),
    state: new ort.Tensor('float32', w.state, [layout.statCount]),
  };
  const probabilities = async (nchwcBlock?: number) => {
    const graph = buildEvalGraph(layout, { nchwcBlock });
    if (nchwcBlock) {
      const lowered = graph.nodes.filter((node) => node.domain === 'com.microsoft.nchwc').map((node) => node.op);
      assert.ok(lowered.includes('Conv') && lowered.includes('MaxPool'), `lowered: ${lowered.join(', ')}`);
    }
    const session = await createSession(graph.toModel(), { threads: 1 });
    const out = (await session.run(feeds)).probabilities!.data as Float32Array;
    await session.release();
    return out;
  };
  const portable = await probabilities();
  const blocked = await probabilities(block);
  let diff = 0;
  portable.forEach((p, i) => (diff = Math.max(diff, Math.abs(p - blocked[i]!))));
  console.log(`max |p(portable) - p(NCHWc)| = ${diff.toExponential(2)}`);
  assert.ok(diff < 1e-5, `probabilities differ by ${diff}`);
});
