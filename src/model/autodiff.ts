/**
 * Reverse-mode differentiation over a Graph: walk the forward nodes backwards and let one
 * gradient rule per ONNX op type emit the gradient nodes, the way ORT's training graph builder
 * does. A new architecture built from these ops needs no new gradient code.
 */
import { broadcastShapes, Graph, isStatic, numel, type Attr, type GradientRegion, type GraphNode, type Tensor } from './graph.js';

export interface RuleContext {
  g: Graph;
  node: GraphNode;
  /** Upstream gradient per output (undefined when that output does not reach the loss). */
  dy: (Tensor | undefined)[];
  /** Which inputs need a gradient. */
  need: boolean[];
}

/** Returns a gradient per input (undefined where not needed or not differentiable). */
export type GradientRule = (c: RuleContext) => (Tensor | undefined)[];

/**
 * Sums `grad` over the axes it was broadcast along so it broadcasts to `shape` (numpy alignment
 * from the right). The result may still be smaller than `shape` where `grad` itself was a
 * not-yet-expanded broadcast gradient.
 */
export function unbroadcast(g: Graph, grad: Tensor, shape: number[]): Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.shape.length - shape.length;
  const axes: number[] = [];
  grad.shape.forEach((d, i) => {
    if ((i < lead && d !== 1) || (i >= lead && shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  let out = axes.length ? g.reduceSum(grad, axes, true) : grad;
  if (lead > 0) out = g.reshape(out, out.shape.slice(lead));
  return out;
}

function dy0(c: RuleContext): Tensor {
  const d = c.dy[0];
  if (!d) throw new Error(`${c.node.op}: missing output gradient`);
  return d;
}

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function swapLast(g: Graph, t: Tensor): Tensor {
  const r = t.shape.length;
  const perm = t.shape.map((_, i) => i);
  perm[r - 1] = r - 2;
  perm[r - 2] = r - 1;
  return g.transpose(t, perm);
}

/** One rule per op type. */
export const gradientRules: Record<string, GradientRule> = {
  Identity: (c) => [dy0(c)],

  Add: (c) => {
    const [a, b] = c.node.inputs as [Tensor, Tensor];
    const d = dy0(c);
    return [c.need[0] ? unbroadcast(c.g, d, a.shape) : undefined, c.need[1] ? unbroadcast(c.g, d, b.shape) : undefined];
  },

  Sum: (c) => c.node.inputs.map((x, i) => (c.need[i] ? unbroadcast(c.g, dy0(c), x.shape) : undefined)),

  Sub: (c) => {
    const [a, b] = c.node.inputs as [Tensor, Tensor];
    const d = dy0(c);
    return [
      c.need[0] ? unbroadcast(c.g, d, a.shape) : undefined,
      c.need[1] ? c.g.neg(unbroadcast(c.g, d, b.shape)) : undefined,
    ];
  },

  Mul: (c) => {
    const { g } = c;
    const [a, b] = c.node.inputs as [Tensor, Tensor];
    const d = dy0(c);
    // x * x: one gradient 2 x dy, scaling the (possibly broadcast, small) dy first.
    if (a === b) return [unbroadcast(g, g.mul(g.mul(d, g.scalar(2)), a), a.shape), undefined];
    return [
      c.need[0] ? unbroadcast(g, g.mul(d, b), a.shape) : undefined,
      c.need[1] ? unbroadcast(g, g.mul(d, a), b.shape) : undefined,
    ];
  },

  Div: (c) => {
    const { g } = c;
    const [a, b] = c.node.inputs as [Tensor, Tensor];
    const y = c.node.outputs[0]!;
    const d = dy0(c);
    const da = c.need[0] || c.need[1] ? g.div(d, b) : undefined;
    return [
      c.need[0] ? unbroadcast(g, da!, a.shape) : undefined,
      // d(a/b)/db = -a/b^2 = -(y/b)
      c.need[1] ? unbroadcast(g, g.neg(g.mul(da!, y)), b.shape) : undefined,
    ];
  },

  Neg: (c) => [c.g.neg(dy0(c))],

  Exp: (c) => [c.g.mul(dy0(c), c.node.outputs[0]!)],

  Log: (c) => [c.g.div(dy0(c), c.node.inputs[0]!)],

  Sqrt: (c) => {
    const { g } = c;
    return [g.div(g.mul(dy0(c), g.scalar(0.5)), c.node.outputs[0]!)];
  },

  Reciprocal: (c) => {
    const { g } = c;
    const y = c.node.outputs[0]!;
    return [g.neg(g.mul(dy0(c), g.mul(y, y)))];
  },

  Relu: (c) => {
    const { g } = c;
    const y = c.node.outputs[0]!;
    // dy * (y > 0) as a float mask: ORT's Where with a scalar branch is ~4x slower than Cast + Mul.
    const mask = g.cast(g.op1('Greater', [y, g.scalar(0, y.dtype)]), y.dtype);
    return [g.mul(dy0(c), mask)];
  },

  Sigmoid: (c) => {
    const { g } = c;
    const y = c.node.outputs[0]!;
    return [g.mul(dy0(c), g.mul(y, g.sub(g.scalar(1), y)))];
  },

  Tanh: (c) => {
    const { g } = c;
    const y = c.node.outputs[0]!;
    return [g.mul(dy0(c), g.sub(g.scalar(1), g.mul(y, y)))];
  },

  MatMul: (c) => {
    const { g } = c;
    const [a, b] = c.node.inputs as [Tensor, Tensor];
    const d = dy0(c);
    let da: Tensor | undefined;
    let db: Tensor | undefined;
    if (c.need[0]) da = unbroadcast(g, g.matmul(d, swapLast(g, b)), a.shape);
    if (c.need[1]) {
      if (b.shape.length === 2 && a.shape.length > 2) {
        // [.., M, K] x [K, N]: fold the leading dims into M.
        const k = a.shape[a.shape.length - 1]!;
        const n = b.shape[1]!;
        db = g.matmul(g.transpose(g.reshape(a, [-1, k]), [1, 0]), g.reshape(d, [-1, n]));
      } else {
        db = unbroadcast(g, g.matmul(swapLast(g, a), d), b.shape);
      }
    }
    return [da, db];
  },

  Conv: (c) => {
    const { g, node } = c;
    const [x, w] = node.inputs as [Tensor, Tensor];
    const d = dy0(c);
    const pads = (node.attrs.pads as number[]) ?? [0, 0, 0, 0];
    const strides = (node.attrs.strides as number[]) ?? [1, 1];
    if (node.attrs.group !== undefined && node.attrs.group !== 1) throw new Error('Conv gradient supports group 1 only');
    let dx: Tensor | undefined;
    let dw: Tensor | undefined;
    let db: Tensor | undefined;
    const [kh, kw] = [w.shape[2]!, w.shape[3]!];
    const [oh, ow] = [d.shape[2]!, d.shape[3]!];
    if (c.need[0]) {
      // Input rows/columns a strided conv never reached get zero gradient through output_padding.
      const extra = [0, 1].map((a) => x.shape[2 + a]! - ((d.shape[2 + a]! - 1) * strides[a]! + w.shape[2 + a]! - pads[a]! - pads[a + 2]!));
      const attrs: Record<string, Attr> = strides.some((s) => s !== 1) ? { pads, strides, output_padding: extra } : { pads };
      dx = g.op1('ConvTranspose', [d, w], attrs);
    }
    if (c.need[1]) {
      // dW[o, (c,i,j)] = sum_n,p dy[n,o,p] * patch[n,(c,i,j),p]: im2col, one batched MatMul, a sum
      // over the batch. The im2col is one convolution of every input channel with one-hot kernels
      // (kernel t picks tap t): [n*c, 1, h, w] → [n*c, kh*kw, oh, ow]. Measured against the
      // alternatives in ORT: Pad + kh*kw Slices + Concat was ~25% slower, dW as a Conv with batch
      // and channels swapped (a huge-kernel Conv, even on the NCHWc kernels) ~2x slower.
      const [n, ch] = x.shape as [number, number];
      const o = w.shape[0]!;
      const taps = kh * kw;
      const eye = g.constant(Array.from({ length: taps * taps }, (_, i) => (Math.floor(i / taps) === i % taps ? 1 : 0)), [taps, 1, kh, kw], x.dtype);
      const cols = g.op1('Conv', [g.reshape(x, [n * ch, 1, x.shape[2]!, x.shape[3]!]), eye], { pads, kernel_shape: [kh, kw], strides });
      const patches = g.reshape(cols, [n, ch * taps, oh * ow]); // [n, k, p]
      const dyT = g.transpose(g.reshape(d, [n, o, oh * ow]), [0, 2, 1]); // [n, p, o]
      const perSample = g.matmul(patches, dyT); // [n, k, o]
      dw = g.transpose(g.reshape(g.reduceSum(perSample, [0], false), [ch, kh, kw, o]), [3, 0, 1, 2]);
    }
    if (c.need[2]) db = g.reduceSum(d, [0, 2, 3], false);
    return [dx, dw, db];
  },

  MaxPool: (c) => {
    const { g, node } = c;
    const x = node.inputs[0]!;
    const idx = node.outputs[1];
    if (!idx) throw new Error('MaxPool gradient needs the Indices output (build it with two outputs)');
    const d = dy0(c);
    // MaxUnpool places each output gradient at its argmax (ORT's indices: first maximum wins, as
    // in PyTorch); output_shape restores rows/columns a floor-mode pool dropped.
    const attrs = { kernel_shape: node.attrs.kernel_shape!, strides: node.attrs.strides ?? [1, 1] };
    return [g.opOutputs('MaxUnpool', [d, idx, g.ints(x.shape)], attrs, 1)[0]!];
  },

  /**
   * Max over axes: the gradient goes to the elements equal to the maximum, split evenly between
   * ties (a valid subgradient; where values are distinct it is exactly the argmax routing).
   */
  ReduceMax: (c) => {
    const { g, node } = c;
    const x = node.inputs[0]!;
    const axes = (node.attrs.axes as number[]).map((a) => (a + x.shape.length) % x.shape.length);
    const keep = (node.attrs.keepdims as number) ?? 1;
    const y = expandBack(g, node.outputs[0]!, x, axes, keep);
    const mask = g.cast(g.op1('Equal', [x, y]), x.dtype);
    const share = g.div(expandBack(g, dy0(c), x, axes, keep), g.reduceSum(mask, axes, true));
    return [g.mul(mask, share)];
  },

  Transpose: (c) => [c.g.transpose(dy0(c), inversePerm(c.node.attrs.perm as number[]))],

  Reshape: (c) => [c.g.reshape(dy0(c), c.node.inputs[0]!.shape)],
  Squeeze: (c) => [c.g.reshape(dy0(c), c.node.inputs[0]!.shape)],
  Unsqueeze: (c) => [c.g.reshape(dy0(c), c.node.inputs[0]!.shape)],

  Split: (c) => {
    const { g, node } = c;
    const x = node.inputs[0]!;
    const r = x.shape.length;
    const axis = (((node.attrs.axis as number) ?? 0) + r) % r;
    const parts = node.outputs.map((o, i) => c.dy[i] ?? g.zerosLike(o));
    return [g.op1('Concat', parts, { axis })];
  },

  Concat: (c) => {
    const { g, node } = c;
    const axis = node.attrs.axis as number;
    const sizes = node.inputs.map((t) => t.shape[(axis + t.shape.length) % t.shape.length]!);
    const parts = g.op('Split', [dy0(c), g.ints(sizes)], { axis });
    return parts.map((p, i) => (c.need[i] ? p : undefined));
  },

  Slice: (c) => {
    const { g, node } = c;
    const [x, startsT, endsT, axesT, stepsT] = node.inputs as [Tensor, Tensor, Tensor, Tensor?, Tensor?];
    const starts = g.constValues(startsT);
    const axes = axesT ? g.constValues(axesT) : starts.map((_, i) => i);
    const steps = stepsT ? g.constValues(stepsT) : starts.map(() => 1);
    const d = dy0(c);
    const fullReverse = steps.every((s) => s === -1) && axes.every((a) => d.shape[a] === x.shape[a]);
    if (fullReverse) return [g.op1('Slice', [d, startsT, endsT, ...(axesT ? [axesT] : []), ...(stepsT ? [stepsT] : [])])];
    if (steps.some((s) => s !== 1)) throw new Error('Slice gradient: only unit steps or full reversal');
    const r = x.shape.length;
    const pads = new Array<number>(2 * r).fill(0);
    axes.forEach((ax, i) => {
      const a = (ax + r) % r;
      const dim = x.shape[a]!;
      const s = Math.min(Math.max(starts[i]! < 0 ? starts[i]! + dim : starts[i]!, 0), dim);
      pads[a] = s;
      pads[a + r] = dim - s - d.shape[a]!;
    });
    return [g.op1('Pad', [d, g.ints(pads)])];
  },

  ReduceSum: (c) => {
    const { g, node } = c;
    const x = node.inputs[0]!;
    const axes = g.constValues(node.inputs[1]!).map((a) => (a + x.shape.length) % x.shape.length);
    return [expandBack(g, dy0(c), x, axes, (node.attrs.keepdims as number) ?? 1)];
  },

  ReduceMean: (c) => {
    const { g, node } = c;
    const x = node.inputs[0]!;
    const axes = (node.attrs.axes as number[]).map((a) => (a + x.shape.length) % x.shape.length);
    const count = axes.reduce((acc, a) => acc * x.shape[a]!, 1);
    const scaled = g.mul(dy0(c), g.scalar(1 / count));
    return [expandBack(g, scaled, x, axes, (node.attrs.keepdims as number) ?? 1)];
  },

  Expand: (c) => [unbroadcast(c.g, dy0(c), c.node.inputs[0]!.shape)],

  LogSoftmax: (c) => {
    const { g, node } = c;
    const axis = (node.attrs.axis as number) ?? -1;
    const y = node.outputs[0]!;
    const d = dy0(c);
    const s = g.reduceSum(d, [axis], true);
    return [g.sub(d, g.mul(g.op1('Exp', [y]), s))];
  },

  Softmax: (c) => {
    const { g, node } = c;
    const axis = (node.attrs.axis as number) ?? -1;
    const y = node.outputs[0]!;
    const d = dy0(c);
    return [g.mul(y, g.sub(d, g.reduceSum(g.mul(d, y), [axis], true)))];
  },
};

/** The gradient of a reduction, left broadcastable (keepdims shape): consumers expand it lazily. */
function expandBack(g: Graph, d: Tensor, x: Tensor, axes: number[], keepdims: number): Tensor {
  return keepdims ? d : g.reshape(d, x.shape.map((s, i) => (axes.includes(i) ? 1 : s)));
}

/**
 * Ops whose rules accept an upstream gradient that is only broadcastable to their output (it is
 * combined elementwise with full-size tensors or reduced by unbroadcast). Others get it expanded.
 * Keeping reduction gradients small until they meet a full-size tensor saves whole passes over
 * the largest activations (batch norm's mean/variance paths).
 */
const BROADCAST_DY_OK = new Set(['Add', 'Sub', 'Mul', 'Div', 'Sum', 'Neg', 'Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Identity', 'Expand']);

/** Ops whose outputs have zero derivative almost everywhere: gradients stop there. */
const PIECEWISE_CONSTANT = new Set(['Sign', 'Greater', 'Less', 'Equal']);

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The nodes inside each gradient region: those its output depends on, back to its inputs.
 * A tensor made inside a region and read outside it would lose that gradient path: refused.
 */
function regionsByNode(nodes: GraphNode[], regions: readonly GradientRegion[]): Map<GraphNode, GradientRegion> {
  const out = new Map<GraphNode, GradientRegion>();
  if (!regions.length) return out;
  const producer = new Map<string, GraphNode>();
  for (const n of nodes) for (const t of n.outputs) producer.set(t.name, n);
  for (const region of regions) {
    const stop = new Set(region.inputs.map((t) => t.name));
    const inside = new Set<GraphNode>();
    const made = new Set<string>();
    const stack = [region.output];
    while (stack.length) {
      const t = stack.pop()!;
      const n = producer.get(t.name);
      if (stop.has(t.name) || !n || inside.has(n)) continue;
      inside.add(n);
      for (const o of n.outputs) made.add(o.name);
      stack.push(...n.inputs);
    }
    for (const n of nodes) {
      if (inside.has(n)) continue;
      const leak = n.inputs.find((t) => made.has(t.name) && t !== region.output);
      if (leak) throw new Error(`gradient region: ${leak.name} is made inside the region and used outside it`);
    }
    for (const n of inside) out.set(n, region);
  }
  return out;
}

function materialise(g: Graph, d: Tensor, shape: number[]): Tensor {
  return sameShape(d.shape, shape) ? d : g.op1('Expand', [d, g.ints(shape)]);
}

/**
 * Appends to `g` the nodes computing d loss / d each of `wrt`. The loss must be a scalar (or
 * `seed` gives its upstream gradient). Returns gradients in the order of `wrt`.
 */
export function buildGradients(g: Graph, loss: Tensor, wrt: Tensor[], seed?: Tensor): Tensor[] {
  const forward = [...g.nodes];
  // Tensors that depend on a wrt tensor.
  const dependsOnWrt = new Set(wrt.map((t) => t.name));
  for (const n of forward) {
    if (PIECEWISE_CONSTANT.has(n.op)) continue;
    if (n.inputs.some((t) => dependsOnWrt.has(t.name))) for (const o of n.outputs) dependsOnWrt.add(o.name);
  }
  // Tensors the loss depends on.
  const reachesLoss = new Set([loss.name]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i]!;
    if (n.outputs.some((t) => reachesLoss.has(t.name))) for (const t of n.inputs) reachesLoss.add(t.name);
  }
  const pending = new Map<string, Tensor[]>();
  const push = (t: Tensor, d: Tensor) => {
    let ok = d.shape.length <= t.shape.length;
    try {
      ok &&= sameShape(broadcastShapes(d.shape, t.shape), t.shape);
    } catch {
      ok = false;
    }
    if (!ok) throw new Error(`gradient of ${t.name} has shape [${d.shape}], not broadcastable to [${t.shape}]`);
    const list = pending.get(t.name);
    if (list) list.push(d);
    else pending.set(t.name, [d]);
  };
  const take = (t: Tensor): Tensor | undefined => {
    const list = pending.get(t.name);
    if (!list) return undefined;
    // A chain of Adds: ORT's Sum is ~2x slower than Add per input on large or broadcast operands.
    const total = list.reduce((acc, d) => g.add(acc, d));
    pending.set(t.name, [total]);
    return total;
  };
  if (!isStatic(loss.shape)) throw new Error('gradients need static shapes');
  if (numel(loss.shape) !== 1 && !seed) throw new Error('loss must be a scalar');
  push(loss, seed ?? g.constant([1], loss.shape, loss.dtype));

  const relevant = (t: Tensor) => dependsOnWrt.has(t.name) && reachesLoss.has(t.name);
  const regions = regionsByNode(forward, g.gradientRegions);
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i]!;
    const region = regions.get(node);
    if (region) {
      // Inside a hand-differentiated region only the node producing its output does anything.
      if (node.outputs.includes(region.output) && pending.has(region.output.name)) {
        const dx = region.rule(g, materialise(g, take(region.output)!, region.output.shape));
        region.inputs.forEach((t, k) => {
          const d = dx[k];
          if (d && relevant(t)) push(t, d);
        });
      }
      continue;
    }
    if (!node.outputs.some((o) => pending.has(o.name))) continue;
    const need = node.inputs.map((t) => relevant(t) && t.dtype !== 'int64' && t.dtype !== 'bool');
    if (!need.some(Boolean)) continue;
    const rule = gradientRules[node.op];
    if (!rule) throw new Error(`no gradient rule for op ${node.op}`);
    const dy = node.outputs.map((o) => {
      const d = pending.has(o.name) ? take(o) : undefined;
      return d && !BROADCAST_DY_OK.has(node.op) ? materialise(g, d, o.shape) : d;
    });
    const dx = rule({ g, node, dy, need });
    node.inputs.forEach((t, k) => {
      const d = dx[k];
      if (need[k] && d) push(t, d);
    });
  }
  return wrt.map((t) => {
    const d = take(t);
    return d ? materialise(g, d, t.shape) : g.zerosLike(t);
  });
}
