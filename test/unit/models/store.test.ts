import { existsSync } from 'node:fs';
import { open, readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/models/manifest.js';
import { pullProfile } from '../../../src/models/pull.js';
import { installedStatus, pickInstalledProfile, requireProfile, VERIFIED_CACHE_FILE } from '../../../src/models/store.js';
import { sharedModels } from '../../helpers.js';
import { caught } from '../../support/errors.js';
import { tempDirs } from '../../support/temp.js';

const manifest = loadManifest();
const tempDir = tempDirs('vigil-store-');

async function installed(profile: string): Promise<string> {
  const modelsDir = await tempDir();
  await pullProfile(manifest, { profile, modelsDir, from: 'local', localDir: sharedModels() });
  return modelsDir;
}

async function flipByte(file: string, at = 1000): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0]! ^= 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}


describe('models store', () => {
  beforeAll(() => {
    sharedModels();
  });

  describe('#requireProfile', () => {
    it('returns the resolved profile and absolute paths after a local pull', async () => {
      const modelsDir = await installed('permissive');
      const { resolved, files } = await requireProfile(manifest, modelsDir, 'permissive');
      expect(resolved.name).toBe('permissive');
      expect(resolved.embeddingModel).toBe('mobilefacenet_128+flip'); // the profile embeds with flip TTA
      expect(files).toEqual({
        yunet_n: path.join(modelsDir, 'yunet_n.onnx'),
        mobilefacenet_128: path.join(modelsDir, 'mobilefacenet_128.onnx'),
      });
      for (const f of Object.values(files)) expect(path.isAbsolute(f)).toBe(true);
    });

    it('throws VIGIL_ERR_MODEL_CHECKSUM naming the profile and the fix when an installed file is corrupt', async () => {
      const modelsDir = await installed('permissive');
      // Corrupt right after the pull: the racy-entry rule must still catch it.
      await flipByte(path.join(modelsDir, 'yunet_n.onnx'));
      const err = await caught(requireProfile(manifest, modelsDir, 'permissive'));
      expect(err.code).toBe('VIGIL_ERR_MODEL_CHECKSUM');
      expect(err.message).toContain('"permissive"');
      expect(err.message).toContain(path.join(modelsDir, 'yunet_n.onnx'));
      expect(err.message).toContain(manifest.models.yunet_n!.sha256);
      expect(err.hint).toContain('vigil models pull permissive');
    });

    it('catches corruption of a file whose verdict is cached', async () => {
      const modelsDir = await installed('permissive');
      const file = path.join(modelsDir, 'yunet_n.onnx');
      const old = new Date(Date.now() - 3600_000);
      await utimes(file, old, old);
      await requireProfile(manifest, modelsDir, 'permissive'); // hashes and caches a non-racy entry
      const again = await installedStatus(manifest, modelsDir, 'permissive', { verify: true });
      expect(again.models.yunet_n!.cached).toBe(true);
      await flipByte(file);
      const err = await caught(requireProfile(manifest, modelsDir, 'permissive'));
      expect(err.code).toBe('VIGIL_ERR_MODEL_CHECKSUM');
    });

    it('throws VIGIL_ERR_MODEL_PROFILE_MISSING with the pull command when nothing is installed', async () => {
      const modelsDir = await tempDir();
      const err = await caught(requireProfile(manifest, modelsDir, 'research'));
      expect(err.code).toBe('VIGIL_ERR_MODEL_PROFILE_MISSING');
      expect(err.message).toContain('"research"');
      expect(err.message).toContain(path.join(modelsDir, 'scrfd_2.5g_kps.onnx'));
      expect(`${err.message}\n${err.hint}`).toContain('vigil models pull research');
    });

    it('names the one missing file of a partly installed profile', async () => {
      const modelsDir = await installed('permissive');
      await unlink(path.join(modelsDir, 'mobilefacenet_128.onnx'));
      const err = await caught(requireProfile(manifest, modelsDir, 'permissive'));
      expect(err.code).toBe('VIGIL_ERR_MODEL_PROFILE_MISSING');
      expect(err.message).toContain('mobilefacenet_128.onnx');
      expect(err.message).not.toContain('yunet_n.onnx');
      expect(err.hint).toContain('vigil models pull permissive');
    });

    it("uses a profile's optional region detector when it is installed and verified, and starts without it otherwise", async () => {
      const modelsDir = await installed('research');
      const region = path.join(modelsDir, 'scrfd_500m_kps.onnx');
      expect(existsSync(region)).toBe(true); // pull installs the optional model too
      expect((await requireProfile(manifest, modelsDir, 'research')).files.scrfd_500m_kps).toBe(region);
      // An install made before the profile named a region detector: the profile is still complete.
      await unlink(region);
      const status = await installedStatus(manifest, modelsDir, 'research', { verify: true });
      expect(status.complete).toBe(true);
      expect(status.models.scrfd_500m_kps).toMatchObject({ present: false, optional: true });
      const { files } = await requireProfile(manifest, modelsDir, 'research');
      expect(Object.keys(files).sort()).toEqual(['scrfd_2.5g_kps', 'w600k_mbf_fp32']);
      expect(await pickInstalledProfile(manifest, modelsDir, ['research', 'permissive'], { verify: true })).toBe('research');
      // A corrupt optional file is left out (never loaded), not an error.
      await pullProfile(manifest, { profile: 'research', modelsDir, from: 'local', localDir: sharedModels() });
      await flipByte(region);
      expect((await requireProfile(manifest, modelsDir, 'research')).files.scrfd_500m_kps).toBeUndefined();
    });

    it('throws VIGIL_ERR_MODEL_UNKNOWN_PROFILE listing the known profiles', async () => {
      const modelsDir = await tempDir();
      const err = await caught(requireProfile(manifest, modelsDir, 'nope'));
      expect(err.code).toBe('VIGIL_ERR_MODEL_UNKNOWN_PROFILE');
      expect(err.message).toContain('"nope"');
      expect(err.message).toContain('research, permissive, npm');
    });
  });

  describe('#installedStatus', () => {
    it('reports presence without hashing when verify is false', async () => {
      const modelsDir = await installed('permissive');
      await rm(path.join(modelsDir, VERIFIED_CACHE_FILE));
      const s = await installedStatus(manifest, modelsDir, 'permissive', { verify: false });
      expect(s.complete).toBe(true);
      expect(s.models.yunet_n).toMatchObject({ present: true, size: 322906 });
      expect(s.models.yunet_n!.checksumOk).toBeUndefined();
      expect(existsSync(path.join(modelsDir, VERIFIED_CACHE_FILE))).toBe(false);
    });

    it('caches verified hashes in .verified.json and trusts them only when not racy', async () => {
      const modelsDir = await installed('permissive');
      // Freshly written files are racy: re-hashed, not trusted.
      const fresh = await installedStatus(manifest, modelsDir, 'permissive', { verify: true });
      expect(fresh.models.yunet_n).toMatchObject({ checksumOk: true, cached: false });

      const old = new Date(Date.now() - 3600_000);
      for (const f of ['yunet_n.onnx', 'mobilefacenet_128.onnx']) await utimes(path.join(modelsDir, f), old, old);
      const first = await installedStatus(manifest, modelsDir, 'permissive', { verify: true });
      expect(first.models.yunet_n!.cached).toBe(false);
      const second = await installedStatus(manifest, modelsDir, 'permissive', { verify: true });
      expect(second.complete).toBe(true);
      expect(second.models.yunet_n).toMatchObject({ checksumOk: true, cached: true, sha256: manifest.models.yunet_n!.sha256 });
      const forced = await installedStatus(manifest, modelsDir, 'permissive', { verify: true, trustCache: false });
      expect(forced.models.yunet_n!.cached).toBe(false);

      const cache = JSON.parse(await readFile(path.join(modelsDir, VERIFIED_CACHE_FILE), 'utf8')) as Record<string, { sha256: string }>;
      expect(cache['yunet_n.onnx']!.sha256).toBe(manifest.models.yunet_n!.sha256);
    });

    it('ignores a malformed cache file', async () => {
      const modelsDir = await installed('permissive');
      await writeFile(path.join(modelsDir, VERIFIED_CACHE_FILE), '{not json');
      const s = await installedStatus(manifest, modelsDir, 'permissive', { verify: true });
      expect(s.complete).toBe(true);
    });
  });

  describe('#pickInstalledProfile', () => {
    it('returns the first fully installed profile in preference order', async () => {
      const modelsDir = await tempDir();
      expect(await pickInstalledProfile(manifest, modelsDir)).toBeUndefined();
      await pullProfile(manifest, { profile: 'permissive', modelsDir, from: 'local', localDir: sharedModels() });
      expect(await pickInstalledProfile(manifest, modelsDir)).toBe('permissive');
      await pullProfile(manifest, { profile: 'research', modelsDir, from: 'local', localDir: sharedModels() });
      expect(await pickInstalledProfile(manifest, modelsDir)).toBe('research');
      expect(await pickInstalledProfile(manifest, modelsDir, ['unknown', 'permissive', 'research'])).toBe('permissive');
    });

    it('skips a profile with a corrupt file only when asked to verify', async () => {
      const modelsDir = await tempDir();
      for (const profile of ['permissive', 'research']) {
        await pullProfile(manifest, { profile, modelsDir, from: 'local', localDir: sharedModels() });
      }
      await flipByte(path.join(modelsDir, 'scrfd_2.5g_kps.onnx'));
      expect(await pickInstalledProfile(manifest, modelsDir)).toBe('research');
      expect(await pickInstalledProfile(manifest, modelsDir, undefined, { verify: true })).toBe('permissive');
    });
  });
});
