/**
 * The training form of the conv block (statistics from E[r] and E[r^2], batch norm's affine after
 * the pooling, window-major convolution for the first block) against the textbook composition
 * conv → ReLU → batch norm (centred) → MaxPool, in value, batch statistics and every gradient.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelDiff } from './helpers/signal.js';
import { buildGradients } from '../src/model/autodiff.js';
import { Graph, numel, type Tensor } from '../src/model/graph.js';
import { convBlock, type ConvBlockSpec, type NetworkContext } from '../src/model/layers.js';
import { createSession, loadOrt } from '../src/model/ort.js';
import { Rng } from '../src/util/rng.js';

interface Built {
  out: Tensor;
  mean: Tensor;
  variance: Tensor;
}

function context(g: Graph, stats: { mean?: Tensor; variance?: Tensor }): NetworkContext {
  return {
    g,
    training: true,
    param: (spec) => g.input(spec.name, spec.shape),
    movingStat: (spec) => g.input(spec.name, spec.shape),
    dropoutMask: () => {
      throw new Error('no dropout here');
    },
    batchStats(_name, mean, variance) {
      stats.mean = mean;
      stats.variance = variance;
    },
  };
}

/** conv → relu → BN with centred variance → MaxPool with indices (the pre-fusion graph). */
function textbook(g: Graph, x: Tensor, spec: ConvBlockSpec): Built {
  const [, c] = x.shape as [number, number];
  const { filters: f, kernel: k, pool: p } = spec;
  const w = g.input('conv1.kernel', [f, c, k, k]);
  const b = g.input('conv1.bias', [f]);
  const gamma = g.reshape(g.input('bn1.gamma', [f]), [1, f, 1, 1]);
  const beta = g.reshape(g.input('bn1.beta', [f]), [1, f, 1, 1]);
  g.input('bn1.moving_mean', [f]);
  g.input('bn1.moving_variance', [f]);
  const lo = Math.floor((k - 1) / 2);
  const r = g.op1('Relu', [g.op1('Conv', [x, w, b], { pads: [lo, lo, k - 1 - lo, k - 1 - lo], kernel_shape: [k, k] })]);
  const mean = g.reduceMean(r, [0, 2, 3]);
  const xc = g.sub(r, mean);
  const variance = g.reduceMean(g.mul(xc, xc), [0, 2, 3]);
  const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.add(variance, g.scalar(spec.epsilon))])]);
  const y = g.add(g.mul(xc, g.mul(inv, gamma)), beta);
  const out = g.opOutputs('MaxPool', [y], { kernel_shape: [p, p], strides: [p, p] }, 2)[0]!;
  return { out, mean: g.reshape(mean, [f]), variance: g.reshape(variance, [f]) };
}

function fused(g: Graph, x: Tensor, spec: ConvBlockSpec, inputGradient: boolean): Built {
  const stats: { mean?: Tensor; variance?: Tensor } = {};
  const out = convBlock(context(g, stats), 1, x, spec, inputGradient);
  return { out, mean: stats.mean!, variance: stats.variance! };
}

const PARAMS = ['conv1.kernel', 'conv1.bias', 'bn1.gamma', 'bn1.beta'];

async function evaluate(
  xShape: number[], spec: ConvBlockSpec, build: (g: Graph, x: Tensor) => Built, withInputGradient: boolean, seed: string,
): Promise<Record<string, Float32Array>> {
  const ort = await loadOrt();
  const g = new Graph();
  const x = g.input('x', xShape);
  const built = build(g, x);
  const rng = new Rng(`${seed}:weights`);
  const r = g.constant(Array.from({ length: numel(built.out.shape) }, () => rng.uniform(-1, 1)), built.out.shape);
  const loss = g.reduceSum(g.mul(built.out, r), built.out.shape.map((_, i) => i), false);
  const wrt = PARAMS.map((n) => g.tensor(n));
  if (withInputGradient) wrt.push(x);
  const grads = buildGradients(g, loss, wrt);
  g.output(built.out, 'out');
  g.output(built.mean, 'mean');
  g.output(built.variance, 'variance');
  grads.forEach((d, i) => g.output(d, `d.${wrt[i]!.name}`));
  const session = await createSession(g.toModel(), { threads: 1 });
  const data = new Rng(`${seed}:data`);
  const [, c] = xShape as [number, number];
  const { filters: f, kernel: k } = spec;
  const values = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => data.uniform(lo, hi));
  // gamma of both signs: the affine-after-pool rewrite must flip max and min for negative scales.
  const gamma = values(f, 0.2, 1.5).map((v, i) => (i % 3 === 1 ? -v : v));
  const feeds = {
    x: new ort.Tensor('float32', values(numel(xShape), -2, 2), xShape),
    'conv1.kernel': new ort.Tensor('float32', values(f * c * k * k, -0.6, 0.6), [f, c, k, k]),
    'conv1.bias': new ort.Tensor('float32', values(f, -0.2, 0.2), [f]),
    'bn1.gamma': new ort.Tensor('float32', gamma, [f]),
    'bn1.beta': new ort.Tensor('float32', values(f, -0.5, 0.5), [f]),
    'bn1.moving_mean': new ort.Tensor('float32', new Float32Array(f), [f]),
    'bn1.moving_variance': new ort.Tensor('float32', new Float32Array(f).fill(1), [f]),
  };
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k2, v]) => [k2, v.data as Float32Array]));
}

const cases: { name: string; x: number[]; spec: ConvBlockSpec; inputGradient: boolean }[] = [
  { name: 'first block, window-major (pool 2)', x: [3, 1, 8, 6], spec: { filters: 4, kernel: 3, pool: 2, epsilon: 1e-3, momentum: 0.99 }, inputGradient: false },
  { name: 'first block, window-major (pool 3, kernel 5)', x: [2, 1, 9, 6], spec: { filters: 3, kernel: 5, pool: 3, epsilon: 1e-3, momentum: 0.99 }, inputGradient: false },
  { name: 'inner block, odd height (floor pooling)', x: [3, 2, 7, 6], spec: { filters: 4, kernel: 3, pool: 2, epsilon: 1e-3, momentum: 0.99 }, inputGradient: true },
  { name: 'first block, map not divisible by the pool', x: [2, 1, 7, 5], spec: { filters: 3, kernel: 3, pool: 2, epsilon: 1e-3, momentum: 0.99 }, inputGradient: false },
];

for (const c of cases) {
  test(`conv block training form equals the textbook graph: ${c.name}`, async () => {
    const ref = await evaluate(c.x, c.spec, (g, x) => textbook(g, x, c.spec), c.inputGradient, c.name);
    const ours = await evaluate(c.x, c.spec, (g, x) => fused(g, x, c.spec, c.inputGradient), c.inputGradient, c.name);
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(ref).sort());
    const errors = Object.keys(ref).map((k) => [k, maxRelDiff(ours[k]!, ref[k]!)] as const);
    console.log(errors.map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', '));
    for (const [k, e] of errors) assert.ok(e < 1e-5, `${k}: relative error ${e}`);
  });
}

test('inference graph pools without Indices (ORT has a fast kernel only for that form)', async () => {
  const { buildEvalGraph, modelLayout } = await import('../src/model/model-graphs.js');
  const { DEFAULT_ARCHITECTURE } = await import('../src/model/architecture.js');
  const g = buildEvalGraph(modelLayout(DEFAULT_ARCHITECTURE, 16, 8, 3));
  const pools = g.nodes.filter((n) => n.op === 'MaxPool');
  assert.equal(pools.length, DEFAULT_ARCHITECTURE.conv_blocks.length);
  for (const p of pools) assert.equal(p.outputs.length, 1);
});
