import { join } from 'node:path';
import { loadManifest } from '../src/models/manifest.js';
import { pullProfile } from '../src/models/pull.js';
import { sharedDir, testModelsDir } from './helpers.js';

/** Installs the research and permissive profiles from ../shared/models once (verified, skipped when already there). */
export default async function setup(): Promise<void> {
  const manifest = loadManifest();
  const localDir = join(sharedDir(), 'models');
  for (const profile of ['research', 'permissive']) {
    await pullProfile(manifest, { profile, modelsDir: testModelsDir(), from: 'local', localDir });
  }
}
