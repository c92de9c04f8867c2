/**
 * The training step against PyTorch autograd (shared/fixtures/training): logits, loss, every
 * parameter gradient, BN batch statistics and one Adam step, each within 1e-4 relative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelDiff } from './helpers/signal.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from '../src/util/paths.js';
import { DEFAULT_ARCHITECTURE } from '../src/model/architecture.js';
import { buildTrainGraph, modelLayout } from '../src/model/model-graphs.js';
import { nchwcBlockSize } from '../src/model/nchwc.js';
import { createSession, loadOrt } from '../src/model/ort.js';

const dir = join(sharedDir(), 'fixtures', 'training');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
  loss: number;
  files: Record<string, { file: string; dtype: string; shape: number[] }>;
};

function load(name: string): Float32Array {
  const f = manifest.files[name];
  assert.ok(f, `fixture ${name} missing`);
  const buf = readFileSync(join(dir, f.file));
  return new Float32Array(new Uint8Array(buf).buffer);
}

function loadInt(name: string): Int32Array {
  const buf = readFileSync(join(dir, manifest.files[name]!.file));
  return new Int32Array(new Uint8Array(buf).buffer);
}

/** NHWC → NCHW for the fixture's dropout masks. */
function nhwcToNchw(src: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let b = 0; b < n!; b++)
    for (let y = 0; y < h!; y++)
      for (let x = 0; x < w!; x++)
        for (let ch = 0; ch < c!; ch++) out[((b * c! + ch) * h! + y) * w! + x] = src[((b * h! + y) * w! + x) * c! + ch]!;
  return out;
}

async function checkTrainingStep(nchwcBlock: number | undefined): Promise<void> {
  const ort = await loadOrt();
  const x = load('input.x');
  const [B, frames, coeffs] = manifest.files['input.x']!.shape as [number, number, number];
  const classes = manifest.files['out.logits']!.shape[1]!;
  const layout = modelLayout(DEFAULT_ARCHITECTURE, frames, coeffs, classes);
  const graph = buildTrainGraph(layout, { batch: B, adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, debugOutputs: true, nchwcBlock });
  if (nchwcBlock) assert.ok(graph.nodes.some((n) => n.domain === 'com.microsoft.nchwc'), 'no convolution was lowered');
  const session = await createSession(graph.toModel(), { threads: 1 });

  const params = new Float32Array(layout.paramCount);
  for (const s of layout.params) {
    const p = load(`param.${s.spec.name}`);
    assert.equal(p.length, s.size, s.spec.name);
    params.set(p, s.offset);
  }
  const state = new Float32Array(layout.statCount);
  for (const s of layout.stats) if (s.spec.init === 'ones') state.fill(1, s.offset, s.offset + s.size);
  const labels = loadInt('input.labels');
  const onehot = new Float32Array(B * classes);
  labels.forEach((l, i) => (onehot[i * classes + l] = 1));

  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
    x: new ort.Tensor('float32', x, [B, frames, coeffs]),
    onehot: new ort.Tensor('float32', onehot, [B, classes]),
    params: new ort.Tensor('float32', params, [layout.paramCount]),
    adam_m: new ort.Tensor('float32', new Float32Array(layout.paramCount), [layout.paramCount]),
    adam_v: new ort.Tensor('float32', new Float32Array(layout.paramCount), [layout.paramCount]),
    state: new ort.Tensor('float32', state, [layout.statCount]),
    lr: new ort.Tensor('float32', new Float32Array([1e-3]), []),
    step: new ort.Tensor('float32', new Float32Array([1]), []),
  };
  layout.masks.forEach((mk, i) => {
    const fixtureShape = manifest.files[`input.keep${i + 1}`]!.shape;
    let keep = load(`input.keep${i + 1}`);
    if (fixtureShape.length === 4) keep = nhwcToNchw(keep, fixtureShape);
    const scaled = keep.map((k) => k / (1 - mk.rate));
    feeds[`mask.${mk.name}`] = new ort.Tensor('float32', scaled, [B, ...mk.shape]);
  });
  const out = await session.run(feeds);
  const get = (n: string) => out[n]!.data as Float32Array;

  const errors: Record<string, number> = {};
  const check = (name: string, actual: ArrayLike<number>, expected: ArrayLike<number>) => {
    assert.equal(actual.length, expected.length, `${name} length`);
    errors[name] = maxRelDiff(actual, expected);
  };
  check('loss', get('loss'), [manifest.loss]);
  check('logits', get('logits'), load('out.logits'));
  for (const bn of ['bn1', 'bn2']) {
    check(`${bn}.batch_mean`, get(`${bn}.batch_mean`), load(`out.${bn}.batch_mean`));
    check(`${bn}.batch_var`, get(`${bn}.batch_var`), load(`out.${bn}.batch_var`));
  }
  const logits = get('logits');
  const probs = Array.from(logits, (_, i) => {
    const row = Math.floor(i / classes) * classes;
    const max = Math.max(...logits.subarray(row, row + classes));
    let z = 0;
    for (let k = 0; k < classes; k++) z += Math.exp(logits[row + k]! - max);
    return Math.exp(logits[i]! - max) / z;
  });
  check('probabilities', probs, load('out.probabilities'));
  // Moving averages (momentum 0.99) from the initial 0 / 1 with the batch statistics.
  const stateOut = get('state_out');
  for (const s of layout.stats) {
    const [bn, kind] = s.spec.name.split('.') as [string, string];
    const batch = load(`out.${bn}.${kind === 'moving_mean' ? 'batch_mean' : 'batch_var'}`);
    const init = kind === 'moving_mean' ? 0 : 1;
    check(`state.${s.spec.name}`, stateOut.subarray(s.offset, s.offset + s.size), Array.from(batch, (b) => 0.99 * init + 0.01 * b));
  }
  const after = get('params_out');
  const lrT = (1e-3 * Math.sqrt(1 - 0.999)) / (1 - 0.9);
  for (const s of layout.params) {
    const name = s.spec.name;
    const ours = get(`grad.${name}`);
    const theirs = load(`grad.${name}`);
    check(`grad.${name}`, ours, theirs);
    const stepped = after.subarray(s.offset, s.offset + s.size);
    // In-graph Adam against the Keras formula applied (in float64) to our own gradient.
    const before = params.subarray(s.offset, s.offset + s.size);
    const formula = Array.from(ours, (g, i) => before[i]! - (lrT * 0.1 * g) / (Math.sqrt(0.001 * g * g) + 1e-7));
    check(`adam(own grad).${name}`, stepped, formula);
    // Against PyTorch's step. At t = 1 the update is lr_t * g / (|g| + eps): where |g| is within
    // a few float32 ulps of the tensor's largest gradient times 1e-5 it flips with rounding noise,
    // so compare only well-conditioned elements (|g| >= 1e-4 of the tensor's largest).
    const gmax = theirs.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
    const keep = Array.from(theirs.keys()).filter((i) => Math.abs(theirs[i]!) >= 1e-4 * gmax);
    const expected = load(`adam1.${name}`);
    check(`adam1.${name}`, keep.map((i) => stepped[i]!), keep.map((i) => expected[i]!));
  }
  await session.release();
  console.log(Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join('\n'));
  for (const [name, err] of Object.entries(errors)) assert.ok(err <= 1e-4, `${name}: relative error ${err}`);
}

test('training step matches PyTorch autograd fixture (portable ONNX ops)', () => checkTrainingStep(undefined));

test('training step matches PyTorch autograd fixture (convolutions on ORT NCHWc kernels)', async (t) => {
  const block = await nchwcBlockSize(await loadOrt());
  if (!block) return t.skip('this ONNX Runtime build has no NCHWc kernels (or EMOPIPE_NO_NCHWC=1)');
  await checkTrainingStep(block);
});
