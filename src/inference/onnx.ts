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
  const options = (eps: ort.InferenceSession.ExecutionProviderConfig[]): ort.InferenceSession.SessionOptions => ({
    executionProviders: eps,
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // The 512-d models declare output [1,512] yet batch fine; silence that per-run shape warning.
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  try {
    return await ort.InferenceSession.create(file, options(executionProviders));
  } catch (err) {
    const reason = (err as Error).message;
    if (opts.provider !== 'cpu') {
      // Tell a missing GPU path from a bad model file: the operator asked for a GPU, so no silent CPU fallback.
      const cpuOk = await ort.InferenceSession.create(file, options(['cpu'])).then(
        async (s) => (await s.release(), true),
        () => false,
      );
      if (cpuOk) throw new VigilError('VIGIL_ERR_PROVIDER_UNAVAILABLE', { provider: opts.provider, reason: firstLine(reason) }, err);
    }
    throw new VigilError('VIGIL_ERR_MODEL_LOAD', { file, reason: firstLine(reason) }, err);
  }
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').slice(0, 300);
}

export { ort };
