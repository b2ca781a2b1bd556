import * as ort from 'onnxruntime-node';
import { access } from 'node:fs/promises';
import { VigilError } from '../errors.js';

/** Execution providers Vigil can ask onnxruntime-node for (config `inference.provider`). */
export type Provider = 'cpu' | 'webgpu' | 'cuda';

export interface SessionOptions {
  readonly provider: Provider;
  /** Intra-op threads per session; 1 is best on small machines where several sessions share the cores. */
  readonly threads: number;
}

export const defaultSessionOptions: SessionOptions = { provider: 'cpu', threads: 1 };

/**
 * Opens an onnxruntime session. Thread spinning is turned off: with two sessions (detector and
 * embedder) spinning on a 2-core machine they steal each other's cores (measured: 46 -> 61 ms/image).
 */
export async function openSession(file: string, opts: SessionOptions = defaultSessionOptions): Promise<ort.InferenceSession> {
  try {
    await access(file);
  } catch {
    throw new VigilError('VIGIL_ERR_MODEL_MISSING', { file });
  }
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    opts.provider === 'cpu' ? ['cpu'] : [opts.provider, 'cpu'];
  try {
    return await ort.InferenceSession.create(file, {
      executionProviders,
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // The 512-d models declare output [1,512] yet batch fine; silence that per-run shape warning.
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (err) {
    throw new VigilError('VIGIL_ERR_MODEL_LOAD', { file, reason: (err as Error).message }, err);
  }
}

export { ort };
