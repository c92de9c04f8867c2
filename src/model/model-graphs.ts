/**
 * Assembles the three graphs of a model from one architecture:
 * - the training step (forward in training mode + gradients + Adam + BN moving averages),
 * - the evaluation graph (eval-mode forward, weights fed as inputs; used for validation),
 * - the inference artifact model.onnx (weights and feature normaliser baked in as initializers).
 * Parameters, Adam moments and BN moving statistics each travel as one flat vector so a step
 * exchanges a handful of buffers with ORT instead of dozens.
 */
import { buildNetwork, type Architecture } from './architecture.js';
import { buildGradients } from './autodiff.js';
import { Graph, numel, type Tensor } from './graph.js';
import { lowerToNchwc } from './nchwc.js';
import { softmaxCrossEntropy, type NetworkContext, type ParamSpec, type StatSpec } from './layers.js';

export interface Slot<S> {
  spec: S;
  offset: number;
  size: number;
}

export interface ModelLayout {
  arch: Architecture;
  frames: number;
  coefficients: number;
  classes: number;
  params: Slot<ParamSpec>[];
  paramCount: number;
  stats: Slot<StatSpec>[];
  statCount: number;
  /** Dropout masks in build order; `shape` excludes the batch dimension. */
  masks: { name: string; shape: number[]; rate: number }[];
}

export interface AdamConfig {
  beta1: number;
  beta2: number;
  epsilon: number;
  /**
   * Decoupled weight decay (AdamW, Loshchilov & Hutter; as Keras' and PyTorch's AdamW): every
   * parameter also shrinks by lr * weightDecay * w each step. 0 or absent: plain Adam, and the
   * step graph is exactly the reference one.
   */
  weightDecay?: number;
}

/** Discovers parameters, statistics and masks by building the network once on a scratch graph. */
export function modelLayout(arch: Architecture, frames: number, coefficients: number, classes: number): ModelLayout {
  const g = new Graph();
  const params: Slot<ParamSpec>[] = [];
  const stats: Slot<StatSpec>[] = [];
  const masks: ModelLayout['masks'] = [];
  let paramCount = 0;
  let statCount = 0;
  const ctx: NetworkContext = {
    g,
    training: true,
    param(spec) {
      const size = numel(spec.shape);
      params.push({ spec, offset: paramCount, size });
      paramCount += size;
      return g.input(spec.name, spec.shape);
    },
    movingStat(spec) {
      const size = numel(spec.shape);
      stats.push({ spec, offset: statCount, size });
      statCount += size;
      return g.input(spec.name, spec.shape);
    },
    dropoutMask(name, shape, rate) {
      masks.push({ name, shape: shape.slice(1), rate });
      return g.input(`mask.${name}`, shape);
    },
    batchStats() {},
  };
  buildNetwork(ctx, g.input('x', [1, frames, coefficients]), arch, classes);
  return { arch, frames, coefficients, classes, params, paramCount, stats, statCount, masks };
}

/** Splits a flat input vector into the named tensors of `slots`. */
function unflatten<S extends { name: string; shape: number[] }>(g: Graph, flat: Tensor, slots: Slot<S>[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  if (slots.length === 0) return out;
  const pieces = slots.length === 1 ? [flat] : g.op('Split', [flat, g.ints(slots.map((s) => s.size))], { axis: 0 });
  slots.forEach((s, i) => out.set(s.spec.name, g.reshape(pieces[i]!, s.spec.shape)));
  return out;
}

function flatten(g: Graph, parts: Tensor[]): Tensor {
  const flat = parts.map((t) => g.reshape(t, [-1]));
  return flat.length === 1 ? flat[0]! : g.op1('Concat', flat, { axis: 0 });
}

export interface TrainGraphOptions {
  batch: number;
  adam: AdamConfig;
  /** Also output `grad.<param>` and `<bn>.batch_mean` / `<bn>.batch_var` (tests). */
  debugOutputs?: boolean;
  float?: 'float32' | 'float64';
  /** Lower stride-1 convolutions onto ORT's NCHWc kernels with this block size (see nchwc.ts). */
  nchwcBlock?: number;
}

/**
 * One training step. Inputs: x [B, frames, coeffs] (standardised), onehot [B, classes],
 * mask.<name> [B, ...] (keep / (1 - rate)), params, adam_m, adam_v [P], state [S], lr [], step []
 * (1-based, float). Outputs: loss [], logits [B, classes], params_out, adam_m_out, adam_v_out, state_out.
 */
export function buildTrainGraph(layout: ModelLayout, opts: TrainGraphOptions): Graph {
  const g = new Graph(opts.float ?? 'float32');
  const B = opts.batch;
  const x = g.input('x', [B, layout.frames, layout.coefficients]);
  const onehot = g.input('onehot', [B, layout.classes]);
  const flatParams = g.input('params', [layout.paramCount]);
  const m = g.input('adam_m', [layout.paramCount]);
  const v = g.input('adam_v', [layout.paramCount]);
  const flatState = g.input('state', [layout.statCount]);
  const lr = g.input('lr', []);
  const step = g.input('step', []);
  const masks = new Map(layout.masks.map((mk) => [mk.name, g.input(`mask.${mk.name}`, [B, ...mk.shape])]));

  const params = unflatten(g, flatParams, layout.params);
  const stats = unflatten(g, flatState, layout.stats);
  const newStats = new Map<string, Tensor>();
  const debug: [string, Tensor][] = [];
  const ctx: NetworkContext = {
    g,
    training: true,
    param: (spec) => params.get(spec.name)!,
    movingStat: (spec) => stats.get(spec.name)!,
    dropoutMask: (name) => masks.get(name)!,
    batchStats(name, mean, variance, momentum) {
      const blend = (old: Tensor, batch: Tensor) =>
        g.add(g.mul(old, g.scalar(momentum)), g.mul(batch, g.scalar(1 - momentum)));
      newStats.set(`${name}.moving_mean`, blend(stats.get(`${name}.moving_mean`)!, mean));
      newStats.set(`${name}.moving_variance`, blend(stats.get(`${name}.moving_variance`)!, variance));
      debug.push([`${name}.batch_mean`, mean], [`${name}.batch_var`, variance]);
    },
  };
  const logits = buildNetwork(ctx, x, layout.arch, layout.classes);
  const loss = softmaxCrossEntropy(g, logits, onehot);
  g.output(loss, 'loss');
  g.output(logits, 'logits');

  const paramTensors = layout.params.map((s) => params.get(s.spec.name)!);
  const grads = buildGradients(g, loss, paramTensors);
  const grad = flatten(g, grads);

  // Adam, Keras semantics: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); w -= lr_t * m / (sqrt(v) + eps).
  const { beta1, beta2, epsilon } = opts.adam;
  const one = g.scalar(1);
  const m2 = g.add(g.mul(m, g.scalar(beta1)), g.mul(grad, g.scalar(1 - beta1)));
  const v2 = g.add(g.mul(v, g.scalar(beta2)), g.mul(g.mul(grad, grad), g.scalar(1 - beta2)));
  const bias1 = g.sub(one, g.op1('Pow', [g.scalar(beta1), step]));
  const bias2 = g.sub(one, g.op1('Pow', [g.scalar(beta2), step]));
  const lrT = g.div(g.mul(lr, g.op1('Sqrt', [bias2])), bias1);
  const update = g.div(g.mul(m2, lrT), g.add(g.op1('Sqrt', [v2]), g.scalar(epsilon)));
  const wd = opts.adam.weightDecay ?? 0;
  const decayed = wd > 0 ? g.sub(flatParams, g.mul(flatParams, g.mul(lr, g.scalar(wd)))) : flatParams;
  g.output(g.sub(decayed, update), 'params_out');
  g.output(m2, 'adam_m_out');
  g.output(v2, 'adam_v_out');
  g.output(flatten(g, layout.stats.map((s) => newStats.get(s.spec.name) ?? stats.get(s.spec.name)!)), 'state_out');

  if (opts.debugOutputs) {
    layout.params.forEach((s, i) => g.output(grads[i]!, `grad.${s.spec.name}`));
    for (const [name, t] of debug) g.output(t, name);
  }
  if (opts.nchwcBlock) lowerToNchwc(g, opts.nchwcBlock);
  return g;
}

/** A model's flat parameter vector and batch-norm moving statistics, in layout order. */
export interface Weights {
  params: Float32Array;
  state: Float32Array;
}

export interface Normalizer {
  mean: Float32Array;
  std: Float32Array;
}

export interface EvalGraphOptions {
  /**
   * Bake these weights in as initializers (model.onnx); otherwise `params` and `state` are inputs.
   * Several weight sets make a checkpoint ensemble: each runs the network and the graph outputs
   * the mean of their probabilities. One set gives exactly the single-model graph.
   */
  weights?: Weights | Weights[];
  /** Standardise the input inside the graph: (x - mean) / std per coefficient. */
  normalizer?: Normalizer;
  /**
   * Lower convolutions onto ORT's NCHWc kernels with this block size (nchwc.ts). Only for graphs
   * fed their weights (validation during training): an exported model.onnx stays portable, and
   * ORT does the same itself there because its weights are constants.
   */
  nchwcBlock?: number;
}

/** Eval-mode forward: input [N, frames, coeffs] (dynamic N) → probabilities [N, classes]. */
export function buildEvalGraph(layout: ModelLayout, opts: EvalGraphOptions = {}): Graph {
  const g = new Graph('float32');
  let x = g.input('input', [-1, layout.frames, layout.coefficients]);
  if (opts.normalizer) {
    x = g.div(
      g.sub(x, g.initializer('normalizer.mean', [layout.coefficients], opts.normalizer.mean)),
      g.initializer('normalizer.std', [layout.coefficients], opts.normalizer.std),
    );
  }
  const forward = (params: Map<string, Tensor>, stats: Map<string, Tensor>): Tensor => {
    const ctx: NetworkContext = {
      g,
      training: false,
      param: (spec) => params.get(spec.name)!,
      movingStat: (spec) => stats.get(spec.name)!,
      dropoutMask: () => {
        throw new Error('no dropout at inference');
      },
      batchStats() {},
    };
    return g.op1('Softmax', [buildNetwork(ctx, x, layout.arch, layout.classes)], { axis: -1 });
  };
  if (!opts.weights) {
    const probs = forward(
      unflatten(g, g.input('params', [layout.paramCount]), layout.params),
      unflatten(g, g.input('state', [layout.statCount]), layout.stats),
    );
    g.output(probs, 'probabilities');
    if (opts.nchwcBlock) lowerToNchwc(g, opts.nchwcBlock);
    return g;
  }
  const members = Array.isArray(opts.weights) ? opts.weights : [opts.weights];
  if (members.length === 0) throw new Error('buildEvalGraph: no weights');
  // A lone model keeps its plain initializer names, so its model.onnx is the single-model one.
  const prefix = (i: number) => (members.length === 1 ? '' : `member${i + 1}.`);
  const outputs = members.map((w, i) => forward(
    new Map(layout.params.map((s) => [s.spec.name, g.initializer(prefix(i) + s.spec.name, s.spec.shape, w.params.subarray(s.offset, s.offset + s.size))])),
    new Map(layout.stats.map((s) => [s.spec.name, g.initializer(prefix(i) + s.spec.name, s.spec.shape, w.state.subarray(s.offset, s.offset + s.size))])),
  ));
  // Add and Mul rather than ONNX Mean: every runtime emopipe targets (node, web) has them.
  const sum = outputs.reduce((a, b) => g.add(a, b));
  g.output(members.length === 1 ? sum : g.mul(sum, g.scalar(1 / members.length)), 'probabilities');
  return g;
}
