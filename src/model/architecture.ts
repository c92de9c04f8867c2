/**
 * The network architecture as data (from the pipeline YAML) and the function that builds it.
 * Defaults are the reference model: Conv 32 → BN → pool → drop .3 → Conv 64 → BN → pool → drop .3 →
 * reshape (43, 640) → BiLSTM 64 → drop .5 → dense softmax.
 */
import type { Tensor } from './graph.js';
import { attentionPool, bidirectionalLstm, convBlock, dense, dropout, mapToSequence, meanPool, type NetworkContext } from './layers.js';

export interface ConvBlock {
  filters: number;
  kernel: number;
  dropout: number;
}

export interface Architecture {
  conv_blocks: ConvBlock[];
  pool: number;
  lstm_units: number;
  dropout: number;
  bn_epsilon: number;
  bn_momentum: number;
  /**
   * How the BiLSTM's outputs become one vector: `last` (the reference: final states), `mean`
   * over time, or `attention` pooling. Absent = last; kept out of the defaults so a default
   * run's weights.json stays as it was.
   */
  pooling?: 'last' | 'mean' | 'attention';
  /** Hidden size of the attention scorer (pooling: attention; default 64). */
  attention_units?: number;
}

export const DEFAULT_ARCHITECTURE: Architecture = {
  conv_blocks: [
    { filters: 32, kernel: 3, dropout: 0.3 },
    { filters: 64, kernel: 3, dropout: 0.3 },
  ],
  pool: 2,
  lstm_units: 64,
  dropout: 0.5,
  bn_epsilon: 1e-3,
  bn_momentum: 0.99,
};

/** JSON Schema of `train.architecture` (every key defaulted, no extra keys). */
export const architectureSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Network layout: conv blocks (conv → ReLU → batch norm → max pool → dropout), then a bidirectional LSTM and a dense softmax layer.',
  default: DEFAULT_ARCHITECTURE,
  properties: {
    conv_blocks: {
      type: 'array',
      minItems: 1,
      description: 'Convolution blocks in order.',
      default: DEFAULT_ARCHITECTURE.conv_blocks,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filters'],
        properties: {
          filters: { type: 'integer', minimum: 1, default: 32, description: 'Output channels.' },
          kernel: { type: 'integer', minimum: 1, default: 3, description: 'Square kernel size (same padding).' },
          dropout: { type: 'number', minimum: 0, maximum: 0.95, default: 0.3, description: 'Dropout rate after pooling.' },
        },
      },
    },
    pool: { type: 'integer', minimum: 1, default: 2, description: 'Max-pool window and stride.' },
    lstm_units: { type: 'integer', minimum: 1, default: 64, description: 'LSTM units per direction.' },
    dropout: { type: 'number', minimum: 0, maximum: 0.95, default: 0.5, description: 'Dropout rate after the LSTM.' },
    bn_epsilon: { type: 'number', exclusiveMinimum: 0, default: 1e-3, description: 'Batch-norm epsilon.' },
    bn_momentum: { type: 'number', minimum: 0, maximum: 1, default: 0.99, description: 'Batch-norm moving-average momentum.' },
    pooling: {
      enum: ['last', 'mean', 'attention'],
      description: 'BiLSTM outputs → one vector: `last` (final states; the reference, used when absent), `mean` over time, or `attention` (additive attention pooling).',
    },
    attention_units: { type: 'integer', minimum: 1, maximum: 4096, description: 'pooling: attention: hidden size of the scorer (64 when absent).' },
  },
} as const;

/** Builds the network on `x` [N, frames, coefficients]; returns logits [N, classes]. */
export function buildNetwork(ctx: NetworkContext, x: Tensor, arch: Architecture, classes: number): Tensor {
  const { g } = ctx;
  let h = g.op1('Unsqueeze', [x, g.ints([1])]); // [N, 1, frames, coefficients]
  arch.conv_blocks.forEach((block, i) => {
    const n = i + 1;
    const spec = { filters: block.filters, kernel: block.kernel, pool: arch.pool, epsilon: arch.bn_epsilon, momentum: arch.bn_momentum };
    h = convBlock(ctx, n, h, spec, i > 0);
    h = dropout(ctx, `dropout${n}`, h, block.dropout);
  });
  h = mapToSequence(ctx, h);
  const pooling = arch.pooling ?? 'last';
  if (pooling === 'last') {
    h = bidirectionalLstm(ctx, 'lstm', h, arch.lstm_units);
  } else {
    const sequence = bidirectionalLstm(ctx, 'lstm', h, arch.lstm_units, 'sequence');
    h = pooling === 'mean' ? meanPool(ctx, sequence) : attentionPool(ctx, 'attention', sequence, arch.attention_units ?? 64);
  }
  h = dropout(ctx, `dropout${arch.conv_blocks.length + 1}`, h, arch.dropout);
  return dense(ctx, 'dense', h, classes);
}
