/**
 * Layers as graph builders. Each takes a NetworkContext (which owns parameters, moving statistics
 * and dropout masks) and returns the output tensor. Layouts: images NCHW, sequences [N, T, F].
 */
import type { Graph, Tensor } from './graph.js';

export type Init = 'glorot_uniform' | 'orthogonal' | 'zeros' | 'ones' | 'lstm_bias';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
  /** Fans for glorot_uniform (Keras: conv fan = channels x kernel area). */
  fanIn?: number;
  fanOut?: number;
  /** For lstm_bias: units per gate (the forget-gate slice is set to 1). */
  units?: number;
}

export interface StatSpec {
  name: string;
  shape: number[];
  init: 'zeros' | 'ones';
}

export interface NetworkContext {
  g: Graph;
  /** Training mode: batch statistics in BN, dropout masks applied. */
  training: boolean;
  param(spec: ParamSpec): Tensor;
  movingStat(spec: StatSpec): Tensor;
  /** A keep mask already scaled by 1/(1-rate), in the layout of `shape` (training only). */
  dropoutMask(name: string, shape: number[], rate: number): Tensor;
  /** Training: BN layers report batch statistics so the step can update the moving averages. */
  batchStats(name: string, mean: Tensor, variance: Tensor, momentum: number): void;
}

/** 2-D convolution, 'same' zero padding, stride 1, with bias. x: [N, C, H, W]. */
export function conv2d(ctx: NetworkContext, name: string, x: Tensor, filters: number, kernel: number): Tensor {
  const c = x.shape[1]!;
  const w = ctx.param({
    name: `${name}.kernel`, shape: [filters, c, kernel, kernel], init: 'glorot_uniform',
    fanIn: c * kernel * kernel, fanOut: filters * kernel * kernel,
  });
  const b = ctx.param({ name: `${name}.bias`, shape: [filters], init: 'zeros' });
  const lo = Math.floor((kernel - 1) / 2);
  const hi = kernel - 1 - lo;
  return ctx.g.op1('Conv', [x, w, b], { pads: [lo, lo, hi, hi], kernel_shape: [kernel, kernel] });
}

export function relu(ctx: NetworkContext, x: Tensor): Tensor {
  return ctx.g.op1('Relu', [x]);
}

/**
 * Batch normalisation over (N, H, W) per channel, Keras semantics: training uses the batch mean
 * and biased variance; inference the moving averages (momentum applied by the training step).
 */
export function batchNorm(ctx: NetworkContext, name: string, x: Tensor, epsilon: number, momentum: number): Tensor {
  const { g } = ctx;
  const c = x.shape[1]!;
  const bshape = [1, c, 1, 1];
  const gamma = g.reshape(ctx.param({ name: `${name}.gamma`, shape: [c], init: 'ones' }), bshape);
  const beta = g.reshape(ctx.param({ name: `${name}.beta`, shape: [c], init: 'zeros' }), bshape);
  const movingMean = ctx.movingStat({ name: `${name}.moving_mean`, shape: [c], init: 'zeros' });
  const movingVar = ctx.movingStat({ name: `${name}.moving_variance`, shape: [c], init: 'ones' });
  if (ctx.training) {
    const mean = g.reduceMean(x, [0, 2, 3]);
    const xc = g.sub(x, mean);
    const variance = g.reduceMean(g.mul(xc, xc), [0, 2, 3]);
    const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.add(variance, g.scalar(epsilon))])]);
    ctx.batchStats(name, g.reshape(mean, [c]), g.reshape(variance, [c]), momentum);
    return g.add(g.mul(xc, g.mul(inv, gamma)), beta);
  }
  const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.add(movingVar, g.scalar(epsilon))])]);
  const scale = g.mul(g.reshape(inv, bshape), gamma);
  const shift = g.sub(beta, g.mul(g.reshape(movingMean, bshape), scale));
  return g.add(g.mul(x, scale), shift);
}

/** Max pooling, square window = stride, no padding (floor). Keeps the Indices output for the gradient. */
export function maxPool(ctx: NetworkContext, x: Tensor, size: number): Tensor {
  const attrs = { kernel_shape: [size, size], strides: [size, size] };
  return ctx.g.opOutputs('MaxPool', [x], attrs, ctx.training ? 2 : 1)[0]!;
}

export function dropout(ctx: NetworkContext, name: string, x: Tensor, rate: number): Tensor {
  if (!ctx.training || rate <= 0) return x;
  return ctx.g.mul(x, ctx.dropoutMask(name, x.shape, rate));
}

/** NCHW feature map → Keras-ordered sequence [N, H, W*C] (time = height, feature = w*C + c). */
export function mapToSequence(ctx: NetworkContext, x: Tensor): Tensor {
  const [, c, h, w] = x.shape as [number, number, number, number];
  return ctx.g.reshape(ctx.g.transpose(x, [0, 2, 3, 1]), [0, h, w * c]);
}

/**
 * Bidirectional LSTM returning the final hidden states [N, 2*units] (forward after the last step,
 * backward after the first), gates i, f, g, o, one bias per direction. Unrolled over time; the input
 * projection of all steps is one MatMul per direction and both directions advance together as a
 * batched MatMul on stacked states [2, N, units].
 */
export function bidirectionalLstm(ctx: NetworkContext, name: string, x: Tensor, units: number): Tensor {
  const { g } = ctx;
  const [, steps, features] = x.shape as [number, number, number];
  const gates = 4 * units;
  const dir = (d: string) => ({
    kernel: ctx.param({ name: `${name}.${d}.kernel`, shape: [features, gates], init: 'glorot_uniform', fanIn: features, fanOut: gates }),
    recurrent: ctx.param({ name: `${name}.${d}.recurrent`, shape: [units, gates], init: 'orthogonal' }),
    bias: ctx.param({ name: `${name}.${d}.bias`, shape: [gates], init: 'lstm_bias', units }),
  });
  const fw = dir('fw');
  const bw = dir('bw');
  const projFw = g.add(g.matmul(x, fw.kernel), fw.bias);
  const projBwRaw = g.add(g.matmul(x, bw.kernel), bw.bias);
  // The backward direction reads time reversed.
  const projBw = g.op1('Slice', [projBwRaw, g.ints([-1]), g.ints([-steps - 1]), g.ints([1]), g.ints([-1])]);
  const zero = g.ints([0]);
  const stacked = g.op1('Concat', [g.op1('Unsqueeze', [projFw, zero]), g.op1('Unsqueeze', [projBw, zero])], { axis: 0 });
  const byTime = g.transpose(stacked, [2, 0, 1, 3]); // [T, 2, N, 4U]
  const perStep = steps === 1 ? [byTime] : g.op('Split', [byTime, g.ints(new Array(steps).fill(1))], { axis: 0 });
  const recurrent = g.op1('Concat', [g.op1('Unsqueeze', [fw.recurrent, zero]), g.op1('Unsqueeze', [bw.recurrent, zero])], { axis: 0 });
  const gateSizes = g.ints([units, units, units, units]);
  let h: Tensor | undefined;
  let c: Tensor | undefined;
  for (let t = 0; t < steps; t++) {
    let z = g.op1('Squeeze', [perStep[t]!, zero]); // [2, N, 4U]
    if (h) z = g.add(z, g.matmul(h, recurrent));
    const [zi, zf, zg, zo] = g.op('Split', [z, gateSizes], { axis: 2 }) as [Tensor, Tensor, Tensor, Tensor];
    const i = g.op1('Sigmoid', [zi]);
    const gg = g.op1('Tanh', [zg]);
    const o = g.op1('Sigmoid', [zo]);
    const ig = g.mul(i, gg);
    c = c ? g.add(g.mul(g.op1('Sigmoid', [zf]), c), ig) : ig;
    h = g.mul(o, g.op1('Tanh', [c]));
  }
  return g.reshape(g.transpose(h!, [1, 0, 2]), [0, 2 * units]);
}

export function dense(ctx: NetworkContext, name: string, x: Tensor, units: number): Tensor {
  const fanIn = x.shape[x.shape.length - 1]!;
  const w = ctx.param({ name: `${name}.kernel`, shape: [fanIn, units], init: 'glorot_uniform', fanIn, fanOut: units });
  const b = ctx.param({ name: `${name}.bias`, shape: [units], init: 'zeros' });
  return ctx.g.add(ctx.g.matmul(x, w), b);
}

/** Mean softmax cross-entropy over the batch; `onehot` is [N, K]. Returns a scalar. */
export function softmaxCrossEntropy(g: Graph, logits: Tensor, onehot: Tensor): Tensor {
  const logp = g.op1('LogSoftmax', [logits], { axis: -1 });
  const perSample = g.reduceSum(g.mul(onehot, logp), [1], false);
  return g.neg(g.reduceMean(perSample, [0], false));
}
