/**
 * An ONNX graph under construction: tensors with statically inferred shapes, nodes in topological
 * (insertion) order, inputs, outputs and initializers. Shapes are tracked in TypeScript because the
 * gradient rules need them (broadcast reductions, split sizes, pads); -1 marks a dynamic dimension
 * (the batch of an inference graph).
 */
import { DataType, encodeModel, type AttrValue, type DataTypeCode, type NodeDef, type TensorInit } from './onnx-proto.js';

export type DType = 'float32' | 'float64' | 'int64' | 'bool';
export type Shape = number[];

export interface Tensor {
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
}

export type Attr = number | number[] | string | { floats: number[] } | { float: number } | { tensor: ConstData };

export interface GraphNode {
  op: string;
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: Record<string, Attr>;
  /** Operator domain; absent for the default ONNX domain. */
  domain?: string;
}

/**
 * A subgraph whose gradient is given by hand instead of by the per-op rules (autodiff.ts): from
 * `inputs` to `output`, with no tensor inside it used outside it. For recurrences, where the
 * per-op rules would emit dozens of tiny nodes per step.
 */
export interface GradientRegion {
  inputs: Tensor[];
  output: Tensor;
  /** d output → d inputs (undefined where an input needs none). */
  rule(g: Graph, dOutput: Tensor): (Tensor | undefined)[];
}

export type TypedValues = Float32Array | Float64Array | BigInt64Array | Uint8Array;
export interface ConstData {
  dtype: DType;
  shape: Shape;
  values: TypedValues;
}

const CODE: Record<DType, DataTypeCode> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

export const OPSET = 17;

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function isStatic(shape: Shape): boolean {
  return shape.every((d) => d >= 0);
}

/** Numpy broadcasting of two shapes (with -1 for dynamic dims). */
export function broadcastShapes(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (x === -1 || y === -1) out.push(Math.max(x, y));
    else throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
  }
  return out;
}

function typed(dtype: DType, values: ArrayLike<number> | TypedValues): TypedValues {
  if (values instanceof Float32Array && dtype === 'float32') return values;
  if (values instanceof Float64Array && dtype === 'float64') return values;
  if (values instanceof BigInt64Array && dtype === 'int64') return values;
  const arr = Array.from(values as ArrayLike<number>);
  switch (dtype) {
    case 'float32': return Float32Array.from(arr);
    case 'float64': return Float64Array.from(arr);
    case 'int64': return BigInt64Array.from(arr.map((v) => BigInt(v)));
    case 'bool': return Uint8Array.from(arr.map((v) => (v ? 1 : 0)));
  }
}

export function toTensorInit(name: string, c: ConstData): TensorInit {
  const v = c.values;
  return { name, dataType: CODE[c.dtype], dims: c.shape, raw: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
}

export class Graph {
  readonly nodes: GraphNode[] = [];
  readonly inputs: Tensor[] = [];
  readonly outputs: Tensor[] = [];
  readonly gradientRegions: GradientRegion[] = [];
  readonly initializers = new Map<string, ConstData>();
  private readonly tensors = new Map<string, Tensor>();
  private readonly constCache = new Map<string, Tensor>();
  private counter = 0;

  /** `float` is the element type of activations and parameters (float64 only in gradient checks). */
  constructor(readonly float: 'float32' | 'float64' = 'float32') {}

  private fresh(hint: string): string {
    let name = `${hint}_${this.counter++}`;
    while (this.tensors.has(name)) name = `${hint}_${this.counter++}`;
    return name;
  }

  private define(name: string, shape: Shape, dtype: DType): Tensor {
    if (this.tensors.has(name)) throw new Error(`tensor ${name} defined twice`);
    const t: Tensor = { name, shape: [...shape], dtype };
    this.tensors.set(name, t);
    return t;
  }

  tensor(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`unknown tensor ${name}`);
    return t;
  }

  input(name: string, shape: Shape, dtype: DType = this.float): Tensor {
    const t = this.define(name, shape, dtype);
    this.inputs.push(t);
    return t;
  }

  /** A named initializer (a weight baked into the model). */
  initializer(name: string, shape: Shape, values: ArrayLike<number> | TypedValues, dtype: DType = this.float): Tensor {
    if (values.length !== numel(shape)) throw new Error(`initializer ${name}: ${values.length} values for shape [${shape}]`);
    const t = this.define(name, shape, dtype);
    this.initializers.set(name, { dtype, shape: [...shape], values: typed(dtype, values) });
    return t;
  }

  /** A small constant, deduplicated by value. */
  constant(values: ArrayLike<number>, shape: Shape, dtype: DType = this.float): Tensor {
    const key = `${dtype}|${shape}|${Array.from(values).join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const t = this.initializer(this.fresh('const'), shape, values, dtype);
    this.constCache.set(key, t);
    return t;
  }

  scalar(v: number, dtype: DType = this.float): Tensor {
    return this.constant([v], [], dtype);
  }

  ints(values: number[]): Tensor {
    return this.constant(values, [values.length], 'int64');
  }

  /** The values of a constant input (for shape inference of Reshape, Slice, ...). */
  constValues(t: Tensor): number[] {
    const c = this.initializers.get(t.name);
    if (!c) throw new Error(`${t.name} must be a constant`);
    return Array.from(c.values as ArrayLike<number | bigint>, (v) => Number(v));
  }

  output(t: Tensor, name?: string): Tensor {
    if (name && name !== t.name) t = this.op('Identity', [t], {}, name)[0]!;
    this.outputs.push(t);
    return t;
  }

  /** Appends a node; returns its outputs with inferred shapes. `names` optionally names the outputs. */
  op(op: string, inputs: Tensor[], attrs: Record<string, Attr> = {}, ...names: string[]): Tensor[] {
    const specs = inferShapes(this, op, inputs, attrs);
    const outputs = specs.map((s, i) => this.define(names[i] ?? this.fresh(op.toLowerCase()), s.shape, s.dtype));
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  /** Like op() but keeps only the first `count` outputs (optional outputs such as MaxPool's Indices). */
  opOutputs(op: string, inputs: Tensor[], attrs: Record<string, Attr>, count: number): Tensor[] {
    const specs = inferShapes(this, op, inputs, attrs).slice(0, count);
    const outputs = specs.map((s) => this.define(this.fresh(op.toLowerCase()), s.shape, s.dtype));
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  /**
   * A node of another operator domain (e.g. ORT's com.microsoft.nchwc kernels), whose output
   * shapes the caller states: the shape rules here cover the default domain only.
   */
  opIn(domain: string, op: string, inputs: Tensor[], attrs: Record<string, Attr>, outputs: { shape: Shape; dtype?: DType }[]): Tensor[] {
    const ts = outputs.map((o) => this.define(this.fresh(op.toLowerCase()), o.shape, o.dtype ?? this.float));
    this.nodes.push({ op, inputs, outputs: ts, attrs, domain });
    return ts;
  }

  op1(op: string, inputs: Tensor[], attrs: Record<string, Attr> = {}, name?: string): Tensor {
    return this.op(op, inputs, attrs, ...(name ? [name] : []))[0]!;
  }

  // Convenience wrappers for the ops used most.
  add(a: Tensor, b: Tensor): Tensor { return this.op1('Add', [a, b]); }
  sub(a: Tensor, b: Tensor): Tensor { return this.op1('Sub', [a, b]); }
  mul(a: Tensor, b: Tensor): Tensor { return this.op1('Mul', [a, b]); }
  div(a: Tensor, b: Tensor): Tensor { return this.op1('Div', [a, b]); }
  matmul(a: Tensor, b: Tensor): Tensor { return this.op1('MatMul', [a, b]); }
  neg(a: Tensor): Tensor { return this.op1('Neg', [a]); }
  reshape(x: Tensor, shape: number[]): Tensor { return this.op1('Reshape', [x, this.ints(shape)]); }
  transpose(x: Tensor, perm: number[]): Tensor { return this.op1('Transpose', [x], { perm }); }
  reduceSum(x: Tensor, axes: number[], keepdims = true): Tensor {
    return this.op1('ReduceSum', [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
  }
  reduceMean(x: Tensor, axes: number[], keepdims = true): Tensor {
    return this.op1('ReduceMean', [x], { axes, keepdims: keepdims ? 1 : 0 });
  }
  cast(x: Tensor, dtype: DType): Tensor {
    return x.dtype === dtype ? x : this.op1('Cast', [x], { to: CODE[dtype] });
  }
  zerosLike(x: Tensor): Tensor {
    if (!isStatic(x.shape)) throw new Error('zerosLike needs a static shape');
    return this.op1('ConstantOfShape', [this.ints(x.shape)], {
      value: { tensor: { dtype: x.dtype, shape: [1], values: typed(x.dtype, [0]) } },
    });
  }

  toModel(name = 'emopipe'): Uint8Array {
    let n = 0;
    const nodes: NodeDef[] = this.nodes.map((node) => ({
      opType: node.op,
      name: `${node.op}_${n++}`,
      inputs: node.inputs.map((t) => t.name),
      outputs: node.outputs.map((t) => t.name),
      ...(node.domain ? { domain: node.domain } : {}),
      attributes: Object.fromEntries(Object.entries(node.attrs).map(([k, v]) => [k, attrValue(v)])),
    }));
    const info = (t: Tensor) => ({
      name: t.name,
      dataType: CODE[t.dtype],
      shape: t.shape.map((d, i) => (d < 0 ? `d${i}` : d)),
    });
    return encodeModel({
      graphName: name,
      nodes,
      inputs: this.inputs.map(info),
      outputs: this.outputs.map(info),
      initializers: [...this.initializers].map(([k, c]) => toTensorInit(k, c)),
      opsetVersion: OPSET,
      extraOpsets: [...new Set(this.nodes.flatMap((n) => (n.domain ? [n.domain] : [])))].map((domain) => ({ domain, version: 1 })),
    });
  }
}

function attrValue(v: Attr): AttrValue {
  if (typeof v === 'number') return { kind: 'int', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) return { kind: 'ints', value: v };
  if ('floats' in v) return { kind: 'floats', value: v.floats };
  if ('float' in v) return { kind: 'float', value: v.float };
  return { kind: 'tensor', value: toTensorInit('value', v.tensor) };
}

interface Spec {
  shape: Shape;
  dtype: DType;
}

const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sum', 'Max', 'Min']);
const UNARY = new Set(['Relu', 'Sigmoid', 'Tanh', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Identity', 'Sign', 'Abs']);

function normAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

function inferShapes(g: Graph, op: string, x: Tensor[], attrs: Record<string, Attr>): Spec[] {
  const a0 = x[0]!;
  if (ELEMENTWISE.has(op)) return [{ shape: x.map((t) => t.shape).reduce(broadcastShapes), dtype: a0.dtype }];
  if (UNARY.has(op)) return [{ shape: a0.shape, dtype: a0.dtype }];
  switch (op) {
    case 'Greater':
    case 'Less':
    case 'Equal':
      return [{ shape: broadcastShapes(a0.shape, x[1]!.shape), dtype: 'bool' }];
    case 'Where':
      return [{ shape: [x[0]!.shape, x[1]!.shape, x[2]!.shape].reduce(broadcastShapes), dtype: x[1]!.dtype }];
    case 'Cast': {
      const to = (Object.keys(CODE) as DType[]).find((d) => CODE[d] === attrs.to);
      if (!to) throw new Error(`Cast to unsupported type code ${String(attrs.to)}`);
      return [{ shape: a0.shape, dtype: to }];
    }
    case 'Softmax':
    case 'LogSoftmax':
    case 'ScatterElements':
      return [{ shape: a0.shape, dtype: a0.dtype }];
    case 'MatMul': {
      const a = a0.shape;
      const b = x[1]!.shape;
      if (a.length < 2 || b.length < 2) throw new Error('MatMul needs rank >= 2');
      if (a[a.length - 1] !== b[b.length - 2]) throw new Error(`MatMul: [${a}] x [${b}]`);
      const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
      return [{ shape: [...batch, a[a.length - 2]!, b[b.length - 1]!], dtype: a0.dtype }];
    }
    case 'Conv':
    case 'ConvTranspose': {
      const [n, , h, w] = a0.shape as [number, number, number, number];
      const wt = x[1]!.shape;
      const pads = (attrs.pads as number[]) ?? [0, 0, 0, 0];
      const strides = (attrs.strides as number[]) ?? [1, 1];
      const kh = wt[2]!;
      const kw = wt[3]!;
      if (op === 'Conv') {
        const oh = Math.floor((h + pads[0]! + pads[2]! - kh) / strides[0]!) + 1;
        const ow = Math.floor((w + pads[1]! + pads[3]! - kw) / strides[1]!) + 1;
        return [{ shape: [n, wt[0]!, oh, ow], dtype: a0.dtype }];
      }
      const op_ = (attrs.output_padding as number[]) ?? [0, 0];
      const oh = (h - 1) * strides[0]! + kh - pads[0]! - pads[2]! + op_[0]!;
      const ow = (w - 1) * strides[1]! + kw - pads[1]! - pads[3]! + op_[1]!;
      return [{ shape: [n, wt[1]!, oh, ow], dtype: a0.dtype }];
    }
    case 'MaxPool': {
      const [n, c, h, w] = a0.shape as [number, number, number, number];
      const k = attrs.kernel_shape as number[];
      const s = (attrs.strides as number[]) ?? [1, 1];
      const shape = [n, c, Math.floor((h - k[0]!) / s[0]!) + 1, Math.floor((w - k[1]!) / s[1]!) + 1];
      return [{ shape, dtype: a0.dtype }, { shape, dtype: 'int64' }];
    }
    case 'Transpose': {
      const perm = (attrs.perm as number[]) ?? a0.shape.map((_, i) => a0.shape.length - 1 - i);
      return [{ shape: perm.map((p) => a0.shape[p]!), dtype: a0.dtype }];
    }
    case 'Reshape': {
      const target = g.constValues(x[1]!).map((d, i) => (d === 0 ? a0.shape[i]! : d));
      const known = target.filter((d) => d !== -1);
      if (target.includes(-1) && isStatic(a0.shape)) {
        const rest = numel(a0.shape) / numel(known);
        return [{ shape: target.map((d) => (d === -1 ? rest : d)), dtype: a0.dtype }];
      }
      return [{ shape: target, dtype: a0.dtype }];
    }
    case 'Unsqueeze': {
      const axes = g.constValues(x[1]!);
      const rank = a0.shape.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank));
      const shape: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : a0.shape[j++]!);
      return [{ shape, dtype: a0.dtype }];
    }
    case 'Squeeze': {
      const axes = g.constValues(x[1]!).map((a) => normAxis(a, a0.shape.length));
      return [{ shape: a0.shape.filter((_, i) => !axes.includes(i)), dtype: a0.dtype }];
    }
    case 'Split': {
      const axis = normAxis((attrs.axis as number) ?? 0, a0.shape.length);
      const sizes = g.constValues(x[1]!);
      return sizes.map((s) => ({ shape: a0.shape.map((d, i) => (i === axis ? s : d)), dtype: a0.dtype }));
    }
    case 'Concat': {
      const axis = normAxis(attrs.axis as number, a0.shape.length);
      const total = x.reduce((acc, t) => acc + t.shape[axis]!, 0);
      return [{ shape: a0.shape.map((d, i) => (i === axis ? total : d)), dtype: a0.dtype }];
    }
    case 'Slice': {
      const starts = g.constValues(x[1]!);
      const ends = g.constValues(x[2]!);
      const axes = x[3] ? g.constValues(x[3]) : starts.map((_, i) => i);
      const steps = x[4] ? g.constValues(x[4]) : starts.map(() => 1);
      const shape = [...a0.shape];
      axes.forEach((ax, i) => {
        const axis = normAxis(ax, shape.length);
        shape[axis] = sliceLength(a0.shape[axis]!, starts[i]!, ends[i]!, steps[i]!);
      });
      return [{ shape, dtype: a0.dtype }];
    }
    case 'Pad': {
      const pads = g.constValues(x[1]!);
      const r = a0.shape.length;
      return [{ shape: a0.shape.map((d, i) => d + pads[i]! + pads[i + r]!), dtype: a0.dtype }];
    }
    case 'ReduceSum':
    case 'ReduceMean':
    case 'ReduceMax': {
      const axes = (op === 'ReduceSum' ? g.constValues(x[1]!) : (attrs.axes as number[])).map((a) =>
        normAxis(a, a0.shape.length),
      );
      const keep = (attrs.keepdims as number) ?? 1;
      const shape = keep
        ? a0.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : a0.shape.filter((_, i) => !axes.includes(i));
      return [{ shape, dtype: a0.dtype }];
    }
    case 'MaxUnpool':
      return [{ shape: g.constValues(x[2]!), dtype: a0.dtype }];
    case 'Expand': {
      return [{ shape: broadcastShapes(a0.shape, g.constValues(x[1]!)), dtype: a0.dtype }];
    }
    case 'ConstantOfShape': {
      const v = attrs.value as { tensor: ConstData };
      return [{ shape: g.constValues(a0), dtype: v.tensor.dtype }];
    }
    default:
      throw new Error(`no shape rule for op ${op}`);
  }
}

function sliceLength(dim: number, start: number, end: number, step: number): number {
  if (dim < 0) return -1;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  if (step > 0) {
    const s = clamp(start < 0 ? start + dim : start, 0, dim);
    const e = clamp(end < 0 ? end + dim : end, 0, dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  const s = clamp(start < 0 ? start + dim : start, -1, dim - 1);
  const e = clamp(end < 0 ? end + dim : end, -1, dim - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}
