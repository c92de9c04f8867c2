/**
 * Lazy access to onnxruntime-node, so commands that never touch a model do not pay for loading
 * ~300 MB of native code.
 */
import type * as OrtTypes from 'onnxruntime-node';
import { EmopipeError } from '../util/errors.js';

export type Ort = typeof OrtTypes;
export type OrtSession = OrtTypes.InferenceSession;
export type OrtTensor = OrtTypes.Tensor;

let loaded: Promise<Ort> | undefined;

export function loadOrt(): Promise<Ort> {
  loaded ??= import('onnxruntime-node').then((m) => ((m as unknown as { default?: Ort }).default ?? m) as Ort);
  return loaded;
}

export interface SessionOptions {
  /** Intra-op threads (ORT's default is one per core). */
  threads?: number;
  device?: 'cpu' | 'cuda';
  /** Write an ORT per-op profile with this file prefix. */
  profilePrefix?: string;
}

export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<OrtSession> {
  const ort = await loadOrt();
  const options: OrtTypes.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
  };
  if (opts.device === 'cuda') {
    const backends = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.() ?? [];
    if (!backends.some((b) => b.name === 'cuda')) {
      throw new EmopipeError('E_MODEL', "device 'cuda' requested but this onnxruntime-node build has no CUDA execution provider; use device: cpu");
    }
    options.executionProviders = ['cuda'];
  }
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (e) {
    const msg = (e as Error).message;
    if (opts.device === 'cuda' && /cuda|providers_shared/i.test(msg)) {
      throw new EmopipeError(
        'E_MODEL',
        "device 'cuda': ONNX Runtime's CUDA execution provider could not be loaded (its libraries are not installed; " +
          'onnxruntime-node was installed without the CUDA download). Use device: cpu.',
        { cause: e },
      );
    }
    throw new EmopipeError('E_MODEL', `cannot create ONNX Runtime session: ${msg}`, { cause: e });
  }
}
