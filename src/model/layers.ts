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

export interface ConvBlockSpec {
  filters: number;
  kernel: number;
  /** Max-pool window and stride (floor mode). */
  pool: number;
  epsilon: number;
  momentum: number;
}

/**
 * The reference block: conv ('same' padding, bias) → ReLU → batch norm (Keras semantics: batch
 * mean and biased variance in training, moving averages at inference) → max pool. Block `n`
 * owns `conv<n>.*` and `bn<n>.*`. `inputGradient: false` when the block reads the network input.
 *
 * Training evaluates the same function with fewer passes over the full-resolution activations,
 * the largest tensors of the step (measured per op in ORT, see bench/train.ts --profile):
 * - batch statistics from E[r] and E[r^2], without a centred copy of r;
 * - batch norm's per-channel affine s*r + t moved after the pooling, on a quarter of the data:
 *   max(s*r + t) = |s| * max(sign(s) * r) + t, and sign(s) = sign(gamma) because 1/sqrt(var+eps) > 0;
 * - where the block needs no input gradient and the pool divides the map, the convolution runs
 *   once per pooling-window offset (stride = pool; the shifted views of the input stacked on the
 *   batch axis), so activations come out window-major [N, pool^2, F, H/pool, W/pool] and the
 *   pooling is a ReduceMax over axis 1 (ORT's MaxPool is ~15x slower on this shape).
 */
export function convBlock(ctx: NetworkContext, n: number, x: Tensor, spec: ConvBlockSpec, inputGradient: boolean): Tensor {
  const { g } = ctx;
  const [batch, c, h, w] = x.shape as [number, number, number, number];
  const { filters: f, kernel: k, pool: p } = spec;
  const kernel = ctx.param({
    name: `conv${n}.kernel`, shape: [f, c, k, k], init: 'glorot_uniform', fanIn: c * k * k, fanOut: f * k * k,
  });
  const bias = ctx.param({ name: `conv${n}.bias`, shape: [f], init: 'zeros' });
  const gamma = ctx.param({ name: `bn${n}.gamma`, shape: [f], init: 'ones' });
  const beta = ctx.param({ name: `bn${n}.beta`, shape: [f], init: 'zeros' });
  const movingMean = ctx.movingStat({ name: `bn${n}.moving_mean`, shape: [f], init: 'zeros' });
  const movingVar = ctx.movingStat({ name: `bn${n}.moving_variance`, shape: [f], init: 'ones' });
  const lo = Math.floor((k - 1) / 2);
  const hi = k - 1 - lo;
  const perChannel = [1, f, 1, 1];
  const poolAttrs = { kernel_shape: [p, p], strides: [p, p] };

  if (!ctx.training) {
    const r = g.op1('Relu', [g.op1('Conv', [x, kernel, bias], { pads: [lo, lo, hi, hi], kernel_shape: [k, k] })]);
    const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.add(movingVar, g.scalar(spec.epsilon))])]);
    const scale = g.reshape(g.mul(inv, gamma), perChannel);
    const shift = g.sub(g.reshape(beta, perChannel), g.mul(g.reshape(movingMean, perChannel), scale));
    return g.opOutputs('MaxPool', [g.add(g.mul(r, scale), shift)], poolAttrs, 1)[0]!; // no Indices: ORT's fast path
  }

  const [oh, ow] = [Math.floor(h / p), Math.floor(w / p)];
  const windowMajor = !inputGradient && p > 1 && h % p === 0 && w % p === 0;
  let r: Tensor;
  let statAxes: number[];
  let channelShape: number[];
  if (windowMajor) {
    const padded = g.op1('Pad', [x, g.ints([0, 0, lo, lo, 0, 0, hi, hi])]);
    const views: Tensor[] = [];
    for (let a = 0; a < p; a++) {
      for (let b = 0; b < p; b++) {
        const view = g.op1('Slice', [padded, g.ints([a, b]), g.ints([a + (oh - 1) * p + k, b + (ow - 1) * p + k]), g.ints([2, 3])]);
        views.push(g.op1('Unsqueeze', [view, g.ints([1])]));
      }
    }
    // [N, p^2, ...] rather than [p^2, N, ...]: ORT reduces over axis 1 several times faster than axis 0.
    const stacked = g.op1('Concat', views, { axis: 1 });
    const conv = g.op1('Conv', [g.reshape(stacked, [batch * p * p, ...stacked.shape.slice(2)]), kernel, bias], { kernel_shape: [k, k], strides: [p, p] });
    r = g.reshape(g.op1('Relu', [conv]), [batch, p * p, f, oh, ow]);
    statAxes = [0, 1, 3, 4];
    channelShape = [1, 1, f, 1, 1];
  } else {
    r = g.op1('Relu', [g.op1('Conv', [x, kernel, bias], { pads: [lo, lo, hi, hi], kernel_shape: [k, k] })]);
    statAxes = [0, 2, 3];
    channelShape = perChannel;
  }
  const mean = g.reduceMean(r, statAxes);
  const variance = g.sub(g.reduceMean(g.mul(r, r), statAxes), g.mul(mean, mean));
  ctx.batchStats(`bn${n}`, g.reshape(mean, [f]), g.reshape(variance, [f]), spec.momentum);
  const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.add(variance, g.scalar(spec.epsilon))])]);
  const scale = g.mul(g.reshape(inv, perChannel), g.reshape(gamma, perChannel));
  const shift = g.sub(g.reshape(beta, perChannel), g.mul(g.reshape(mean, perChannel), scale));
  const sign = g.op1('Sign', [gamma]);
  const q = g.mul(r, g.reshape(sign, channelShape));
  const pooled = windowMajor
    ? g.op1('ReduceMax', [q], { axes: [1], keepdims: 0 })
    : g.opOutputs('MaxPool', [q], poolAttrs, 2)[0]!;
  return g.add(g.mul(pooled, g.mul(scale, g.reshape(sign, perChannel))), shift);
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

/** The unrolled LSTM's per-step tensors, [1, 2, N, units] each; `f` starts at step 1. */
interface LstmSteps {
  i: Tensor[];
  f: Tensor[];
  g: Tensor[];
  o: Tensor[];
  c: Tensor[];
  /** tanh(c) */
  tc: Tensor[];
  h: Tensor[];
}

/**
 * Bidirectional LSTM returning the final hidden states [N, 2*units] (forward after the last step,
 * backward after the first), gates i, f, g, o, one bias per direction. Unrolled over time; the input
 * projection of all steps is one MatMul per direction and both directions advance together as a
 * batched MatMul on stacked states [2, N, units]. In training the recurrence is a gradient region
 * with a hand-written gradient (lstmGradient): 2-10 % faster steps than the per-op rules
 * (measured interleaved), checked by finite differences and the PyTorch fixture.
 */
export function bidirectionalLstm(ctx: NetworkContext, name: string, x: Tensor, units: number, output: 'last' | 'sequence' = 'last'): Tensor {
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
  // Per-step tensors keep a leading axis of 1 ([1, 2, N, .]) so the gradient can stack them.
  const saved: LstmSteps = { i: [], f: [], g: [], o: [], c: [], tc: [], h: [] };
  for (let t = 0; t < steps; t++) {
    const h = saved.h[t - 1];
    const z = h ? g.add(perStep[t]!, g.matmul(h, recurrent)) : perStep[t]!;
    const [zi, zf, zg, zo] = g.op('Split', [z, gateSizes], { axis: 3 }) as [Tensor, Tensor, Tensor, Tensor];
    const i = g.op1('Sigmoid', [zi]);
    const gg = g.op1('Tanh', [zg]);
    const o = g.op1('Sigmoid', [zo]);
    const ig = g.mul(i, gg);
    let c = ig;
    if (t > 0) {
      const f = g.op1('Sigmoid', [zf]);
      saved.f.push(f);
      c = g.add(g.mul(f, saved.c[t - 1]!), ig);
    }
    const tc = g.op1('Tanh', [c]);
    saved.i.push(i);
    saved.g.push(gg);
    saved.o.push(o);
    saved.c.push(c);
    saved.tc.push(tc);
    saved.h.push(g.mul(o, tc));
  }
  if (output === 'sequence') return lstmSequence(ctx, saved, recurrent, byTime, units);
  const last = saved.h[steps - 1]!;
  if (ctx.training) {
    g.gradientRegions.push({ inputs: [byTime, recurrent], output: last, rule: (gr, d) => lstmGradient(gr, saved, recurrent, d) });
  }
  return g.reshape(g.transpose(g.reshape(last, last.shape.slice(1)), [1, 0, 2]), [0, 2 * units]);
}

/**
 * The BiLSTM's outputs at every time step, [N, T, 2*units] with forward and backward states
 * aligned by time (the backward direction ran time reversed). In training the gradient region
 * ends at the stacked states, so the hand-written rule takes a gradient for every step.
 */
function lstmSequence(ctx: NetworkContext, saved: LstmSteps, recurrent: Tensor, byTime: Tensor, units: number): Tensor {
  const { g } = ctx;
  const steps = saved.h.length;
  const all = steps === 1 ? saved.h[0]! : g.op1('Concat', saved.h, { axis: 0 }); // [T, 2, N, U]
  if (ctx.training) {
    g.gradientRegions.push({ inputs: [byTime, recurrent], output: all, rule: (gr, d) => lstmGradient(gr, saved, recurrent, d, true) });
  }
  const [fw, bw] = g.op('Split', [all, g.ints([1, 1])], { axis: 1 }) as [Tensor, Tensor];
  const bwByTime = g.op1('Slice', [bw, g.ints([-1]), g.ints([-steps - 1]), g.ints([0]), g.ints([-1])]);
  const both = g.op1('Concat', [fw, bwByTime], { axis: 3 }); // [T, 1, N, 2U]
  return g.transpose(g.reshape(both, [steps, -1, 2 * units]), [1, 0, 2]);
}

/** Mean over time of a sequence [N, T, F] → [N, F]. */
export function meanPool(ctx: NetworkContext, x: Tensor): Tensor {
  return ctx.g.reduceMean(x, [1], false);
}

/**
 * Additive attention pooling over time (Bahdanau-style scoring, as in attention-pooled SER
 * models): e_t = v . tanh(W x_t + b), alpha = softmax_t(e), output sum_t alpha_t x_t. Owns
 * `<name>.kernel` [F, units], `<name>.bias` [units], `<name>.score` [units, 1]. Built from ops
 * that have gradient rules, so it needs no gradient code of its own.
 */
export function attentionPool(ctx: NetworkContext, name: string, x: Tensor, units: number): Tensor {
  const { g } = ctx;
  const features = x.shape[2]!;
  const w = ctx.param({ name: `${name}.kernel`, shape: [features, units], init: 'glorot_uniform', fanIn: features, fanOut: units });
  const b = ctx.param({ name: `${name}.bias`, shape: [units], init: 'zeros' });
  const v = ctx.param({ name: `${name}.score`, shape: [units, 1], init: 'glorot_uniform', fanIn: units, fanOut: 1 });
  const scores = g.matmul(g.op1('Tanh', [g.add(g.matmul(x, w), b)]), v); // [N, T, 1]
  const alpha = g.op1('Softmax', [scores], { axis: 1 });
  return g.reduceSum(g.mul(alpha, x), [1], false);
}

/**
 * Hand-written gradient of the unrolled LSTM above (the per-op rules emit ~30 small nodes per
 * step; this emits 6): the gates' local derivatives are computed for all steps at once on
 * stacked tensors, then the recurrence runs backward, and the recurrent-weight gradient is one
 * MatMul over all steps. Returns the gradients of the stacked projections [T, 2, N, 4U] and of
 * the stacked recurrent kernels [2, U, 4U].
 */
function lstmGradient(g: Graph, s: LstmSteps, recurrent: Tensor, dOut: Tensor, sequence = false): Tensor[] {
  const T = s.h.length;
  // dOut: the last state's gradient [1, 2, N, U], or (sequence) every step's [T, 2, N, U].
  const dSteps = sequence ? (T === 1 ? [dOut] : g.op('Split', [dOut, g.ints(new Array<number>(T).fill(1))], { axis: 0 })) : undefined;
  const dLast = dSteps ? dSteps[T - 1]! : dOut;
  const [, dirs, n, units] = dLast.shape as [number, number, number, number];
  const zeros = g.constant(new Array<number>(dirs * n * units).fill(0), [1, dirs, n, units], dLast.dtype);
  const stack = (ts: Tensor[]) => (ts.length === 1 ? ts[0]! : g.op1('Concat', ts, { axis: 0 }));
  const unstack = (t: Tensor) => (T === 1 ? [t] : g.op('Split', [t, g.ints(new Array<number>(T).fill(1))], { axis: 0 }));
  const previous = (ts: Tensor[]) => stack([zeros, ...ts.slice(0, T - 1)]);
  const one = g.scalar(1, dLast.dtype);
  const dsig = (y: Tensor) => g.mul(y, g.sub(one, y));
  const [i, gg, o, tc] = [s.i, s.g, s.o, s.tc].map(stack) as [Tensor, Tensor, Tensor, Tensor];
  const f = stack([zeros, ...s.f]); // no forget gate at step 0 (no previous cell)
  // d h → d c: o (1 - tanh(c)^2); d c (gates i, f, g) and d h (gate o) → pre-activations.
  const k = unstack(g.mul(o, g.sub(one, g.mul(tc, tc))));
  const a = unstack(g.op1('Concat', [
    g.mul(gg, dsig(i)), g.mul(previous(s.c), dsig(f)), g.mul(i, g.sub(one, g.mul(gg, gg))), g.mul(tc, dsig(o)),
  ], { axis: 3 }));
  const recurrentT = g.transpose(recurrent, [0, 2, 1]);
  const dz = new Array<Tensor>(T);
  let dh = dLast;
  let dcNext: Tensor | undefined;
  for (let t = T - 1; t >= 0; t--) {
    const dhk = g.mul(dh, k[t]!);
    const dc = dcNext ? g.add(dhk, dcNext) : dhk;
    dz[t] = g.mul(g.op1('Concat', [dc, dc, dc, dh], { axis: 3 }), a[t]!);
    if (t > 0) {
      dh = g.matmul(dz[t]!, recurrentT);
      if (dSteps) dh = g.add(dh, dSteps[t - 1]!);
      dcNext = g.mul(dc, s.f[t - 1]!);
    }
  }
  const dzAll = stack(dz); // [T, 2, N, 4U]
  const byDirection = (t: Tensor, width: number) => g.reshape(g.transpose(t, [1, 0, 2, 3]), [dirs, T * n, width]);
  const dRecurrent = g.matmul(g.transpose(byDirection(previous(s.h), units), [0, 2, 1]), byDirection(dzAll, 4 * units));
  return [dzAll, dRecurrent];
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
