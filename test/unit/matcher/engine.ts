import { afterAll, beforeAll } from 'vitest';
import { FaceEngine } from '../../../src/inference/engine.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { testModelsDir } from '../../helpers.js';

/** One real face engine per test file (opened before its tests, closed after): `const engine = useEngine(); ... engine()`. */
export function useEngine(profile = 'research'): () => FaceEngine {
  let engine: FaceEngine | undefined;
  beforeAll(async () => {
    const r = await requireProfile(loadManifest(), testModelsDir(), profile);
    engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 });
  });
  afterAll(async () => {
    await engine?.close();
  });
  return () => engine!;
}
