/**
 * Lowers the training step's stride-1 convolutions onto ONNX Runtime's blocked-layout (NCHWc)
 * CPU kernels, the ones ORT's own graph optimizer uses for inference models. The optimizer only
 * does that for convolutions with constant weights; here the weights change every step, so the
 * graph reorders them itself (a Reshape/Transpose of a few thousand values) and feeds the kernel.
 *
 * - Conv (+ a Relu that is its only consumer): ReorderInput → nchwc.Conv(activation) → ReorderOutput.
 * - ConvTranspose (the input gradient of a stride-1 Conv): the same convolution with the kernel
 *   transposed and flipped, which ORT runs ~2x faster than its ConvTranspose (measured on the
 *   reference block 2: 16-18 ms → ~7 ms per step including the reorders).
 * - MaxPool without Indices (validation graphs): ReorderInput → nchwc.MaxPool → ReorderOutput.
 * Only nodes whose channel counts are multiples of the block size are lowered.
 */
import { Graph, type GraphNode, type Tensor } from './graph.js';
import type { Ort } from './ort.js';

const DOMAIN = 'com.microsoft.nchwc';

let probed: Promise<number | undefined> | undefined;

/**
 * The NCHWc block size of this machine's ORT build (16 with AVX-512, 8 with AVX2), or undefined
 * where the kernels are missing (non-x86 builds) or EMOPIPE_NO_NCHWC=1. ReorderInput pads the
 * channel axis to the block size, so a 4-channel probe tensor reveals it.
 */
export function nchwcBlockSize(ort: Ort): Promise<number | undefined> {
  if (process.env.EMOPIPE_NO_NCHWC === '1') return Promise.resolve(undefined);
  probed ??= (async () => {
    try {
      const probe = new Graph();
      const x = probe.input('x', [1, 4, 1, 1]);
      probe.output(probe.opIn(DOMAIN, 'ReorderInput', [x], {}, [{ shape: [1, -1, 1, 1] }])[0]!, 'y');
      const session = await ort.InferenceSession.create(probe.toModel('nchwc_probe'));
      const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
      await session.release();
      const block = Number(out.y!.dims[1]);
      return block >= 4 && block % 4 === 0 ? block : undefined;
    } catch {
      return undefined;
    }
  })();
  return probed;
}

/** OIHW weights → the kernel's OIHWBiBo order (blocks of input and output channels innermost). */
function reorderWeights(g: Graph, w: Tensor, block: number): Tensor {
  const [o, i, kh, kw] = w.shape as [number, number, number, number];
  const blocked = g.reshape(w, [o / block, block, i / block, block, kh, kw]);
  return g.reshape(g.transpose(blocked, [0, 2, 4, 5, 3, 1]), [o, i, kh, kw]);
}

/**
 * Nodes computing `out` (an existing NCHW tensor) as ReorderInput(x) → `body` → ReorderOutput,
 * taken off the end of the graph for the caller to place.
 */
function inBlockedLayout(g: Graph, x: Tensor, out: Tensor, body: (xb: Tensor) => Tensor): GraphNode[] {
  const start = g.nodes.length;
  const [xb] = g.opIn(DOMAIN, 'ReorderInput', [x], {}, [{ shape: x.shape }]);
  g.nodes.push({ op: 'ReorderOutput', domain: DOMAIN, inputs: [body(xb!)], outputs: [out], attrs: { channels: out.shape[1]! } });
  return g.nodes.splice(start);
}

function blockedConv(g: Graph, x: Tensor, w: Tensor, bias: Tensor | undefined, attrs: Record<string, number[] | string>, out: Tensor, block: number): GraphNode[] {
  return inBlockedLayout(g, x, out, (xb) =>
    g.opIn(DOMAIN, 'Conv', [xb, reorderWeights(g, w, block), ...(bias ? [bias] : [])], attrs, [{ shape: out.shape }])[0]!);
}

const unitStrides = (n: GraphNode) => ((n.attrs.strides as number[] | undefined) ?? [1, 1]).every((s) => s === 1);
const plain = (n: GraphNode) =>
  !n.domain && (n.attrs.group === undefined || n.attrs.group === 1) && n.inputs[0]!.shape.length === 4 &&
  (n.attrs.dilations === undefined || (n.attrs.dilations as number[]).every((d) => d === 1));

/** Rewrites eligible nodes of `g` in place (keeping every tensor the rest of the graph reads). */
export function lowerToNchwc(g: Graph, block: number): void {
  const fits = (c: number) => c % block === 0;
  const consumers = new Map<string, GraphNode[]>();
  for (const n of g.nodes) for (const t of n.inputs) consumers.set(t.name, [...(consumers.get(t.name) ?? []), n]);
  const graphOutputs = new Set(g.outputs.map((t) => t.name));
  const replaced = new Map<GraphNode, GraphNode[]>();
  const dropped = new Set<GraphNode>();
  for (const node of [...g.nodes]) {
    if (node.op === 'MaxPool' && !node.domain && node.outputs.length === 1 && node.inputs[0]!.shape.length === 4 && fits(node.inputs[0]!.shape[1]!)) {
      // Pooling without Indices (inference-mode graphs): ORT's NCHW MaxPool is ~15x slower.
      const out = node.outputs[0]!;
      replaced.set(node, inBlockedLayout(g, node.inputs[0]!, out, (xb) => g.opIn(DOMAIN, 'MaxPool', [xb], node.attrs, [{ shape: out.shape }])[0]!));
      continue;
    }
    if ((node.op !== 'Conv' && node.op !== 'ConvTranspose') || !plain(node) || !unitStrides(node)) continue;
    const [x, w, b] = node.inputs as [Tensor, Tensor, Tensor?];
    const pads = (node.attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
    const [kh, kw] = [w.shape[2]!, w.shape[3]!];
    if (node.op === 'Conv' && fits(w.shape[0]!) && fits(w.shape[1]!)) {
      const y = node.outputs[0]!;
      const users = consumers.get(y.name) ?? [];
      const relu = users.length === 1 && users[0]!.op === 'Relu' && !graphOutputs.has(y.name) ? users[0]! : undefined;
      const attrs = { pads, kernel_shape: [kh, kw], ...(relu ? { activation: 'Relu' } : {}) };
      replaced.set(node, blockedConv(g, x, w, b, attrs, relu ? relu.outputs[0]! : y, block));
      if (relu) dropped.add(relu);
    } else if (node.op === 'ConvTranspose' && !node.attrs.output_padding && fits(w.shape[0]!) && fits(w.shape[1]!)) {
      // ConvTranspose(dy, W) with pads p = Conv(dy, W') with W'[c, o] = W[o, c] flipped, pads k-1-p.
      const start = g.nodes.length;
      const flipped = g.op1('Slice', [g.transpose(w, [1, 0, 2, 3]), g.ints([-1, -1]), g.ints([-kh - 1, -kw - 1]), g.ints([2, 3]), g.ints([-1, -1])]);
      const convPads = [kh - 1 - pads[0]!, kw - 1 - pads[1]!, kh - 1 - pads[2]!, kw - 1 - pads[3]!];
      const conv = blockedConv(g, x, flipped, undefined, { pads: convPads, kernel_shape: [kh, kw] }, node.outputs[0]!, block);
      replaced.set(node, [...g.nodes.splice(start), ...conv]);
    }
  }
  const rewritten = g.nodes.flatMap((n) => (dropped.has(n) ? [] : replaced.get(n) ?? [n]));
  g.nodes.splice(0, g.nodes.length, ...rewritten);
}
