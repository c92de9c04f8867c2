/**
 * The reference model's graphs must not change by accident: options added for experiments
 * (weight decay, pooling, ...) are off by default and must leave the generated ONNX bytes of the
 * default training step and evaluation graph exactly as they were, so the measured training
 * speed and the PyTorch fixture still describe what runs. A deliberate change to the reference
 * graph updates these hashes (and re-measures `npm run bench:train`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DEFAULT_ARCHITECTURE } from '../src/model/architecture.js';
import { buildEvalGraph, buildTrainGraph, modelLayout } from '../src/model/model-graphs.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('default architecture: training step and evaluation graphs are byte-identical to the reference', () => {
  const layout = modelLayout(DEFAULT_ARCHITECTURE, 174, 40, 8);
  assert.equal(layout.paramCount, 381000);
  const adam = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
  assert.equal(sha(buildTrainGraph(layout, { batch: 32, adam }).toModel('train_step')), 'f49954f54db82ff3883de02fac3cff0b66052c369a57f12aa8d6a2d9e0114b4c');
  assert.equal(sha(buildTrainGraph(layout, { batch: 32, adam: { ...adam, weightDecay: 0 }, nchwcBlock: 8 }).toModel('train_step')), 'f93f6cbdd5c2be9fca4fec6b230d163875fb5938bfc78285cea1422f3ce059bd');
  assert.equal(sha(buildEvalGraph(layout, {}).toModel('eval')), 'f73bcca28ebe3a151e7f9e4f9c3814e52233e21fd4e1727b99ae8d57c78063de');
  // The explicit default pooling builds the same graph as an architecture without the key.
  const explicit = modelLayout({ ...DEFAULT_ARCHITECTURE, pooling: 'last' }, 174, 40, 8);
  assert.equal(sha(buildTrainGraph(explicit, { batch: 32, adam }).toModel('train_step')), 'f49954f54db82ff3883de02fac3cff0b66052c369a57f12aa8d6a2d9e0114b4c');
});
