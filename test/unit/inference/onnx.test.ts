import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../../src/errors.js';
import { openSession, ort } from '../../../src/inference/onnx.js';
import { tempDir, testModelsDir } from '../../helpers.js';

const model = () => join(testModelsDir(), 'mobilefacenet_128.onnx');

async function embed(s: ort.InferenceSession): Promise<Float32Array> {
  const x = new Float32Array(3 * 112 * 112).map((_, i) => Math.sin(i) * 0.5);
  const r = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, 112, 112]) });
  return r[s.outputNames[0]!]!.data as Float32Array;
}

const isSession = (x: unknown): x is ort.InferenceSession => typeof x === 'object' && x !== null && 'run' in x;

describe('openSession', () => {
  it('names a missing file and a corrupt one', async () => {
    const dir = await tempDir();
    await expect(openSession(join(dir, 'nope.onnx'))).rejects.toSatisfy((e) => isVigilError(e, 'VIGIL_ERR_MODEL_MISSING') && (e as Error).message.includes('nope.onnx'));
    await writeFile(join(dir, 'junk.onnx'), 'not a model');
    await expect(openSession(join(dir, 'junk.onnx'))).rejects.toSatisfy((e) => isVigilError(e, 'VIGIL_ERR_MODEL_LOAD') && (e as Error).message.includes('junk.onnx'));
  });

  it('webgpu either runs the model like the CPU does, or says the provider is unavailable (never a silent CPU fallback)', async () => {
    const cpu = await openSession(model(), { provider: 'cpu', threads: 1 });
    const ref = await embed(cpu);
    const gpu = await openSession(model(), { provider: 'webgpu', threads: 1 }).catch((e: unknown) => e);
    if (isSession(gpu)) {
      const out = await embed(gpu);
      let dot = 0;
      let a = 0;
      let b = 0;
      for (let i = 0; i < out.length; i++) {
        dot += out[i]! * ref[i]!;
        a += out[i]! * out[i]!;
        b += ref[i]! * ref[i]!;
      }
      expect(dot / Math.sqrt(a * b)).toBeGreaterThan(0.999);
    } else {
      expect(isVigilError(gpu, 'VIGIL_ERR_PROVIDER_UNAVAILABLE')).toBe(true);
      expect((gpu as Error).message).toContain('"webgpu"');
    }
    const cuda = await openSession(model(), { provider: 'cuda', threads: 1 }).catch((e: unknown) => e);
    if (!isSession(cuda)) expect(isVigilError(cuda, 'VIGIL_ERR_PROVIDER_UNAVAILABLE')).toBe(true);
  });
});
