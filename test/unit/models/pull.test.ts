import { copyFile, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/models/manifest.js';
import { pullProfile } from '../../../src/models/pull.js';
import { installedStatus, requireProfile, sha256File } from '../../../src/models/store.js';
import { sharedModels } from '../../helpers.js';
import { caught } from '../../support/errors.js';
import { tempDirs } from '../../support/temp.js';

const manifest = loadManifest();
const tempDir = tempDirs('vigil-pull-');


/** A local source folder holding a good copy of `good` and a one-byte-corrupted copy of `bad`. */
async function badSource(good: string[], bad: string): Promise<string> {
  const dir = await tempDir();
  for (const f of [...good, bad]) await copyFile(path.join(sharedModels(), f), path.join(dir, f));
  const fh = await open(path.join(dir, bad), 'r+');
  try {
    await fh.write(Buffer.from([0x00, 0x01, 0x02]), 0, 3, 100);
  } finally {
    await fh.close();
  }
  return dir;
}

async function leftovers(modelsDir: string): Promise<string[]> {
  return (await readdir(modelsDir)).filter((f) => f.endsWith('.part') || f.endsWith('.tmp'));
}

describe('pullProfile', () => {
  beforeAll(() => {
    sharedModels();
  });

  describe('local channel', () => {
    it('installs the permissive profile, then skips it, then reinstalls it with force', async () => {
      const modelsDir = path.join(await tempDir(), 'nested', 'models');
      const logs: string[] = [];
      const first = await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels(), log: (m) => logs.push(m) });
      expect(first.from).toBe('local'); // the profile's default source
      expect(first.models).toEqual([
        { id: 'yunet_n', file: 'yunet_n.onnx', action: 'installed', bytes: 322906 },
        { id: 'mobilefacenet_128', file: 'mobilefacenet_128.onnx', action: 'installed', bytes: 3998070 },
      ]);
      expect(logs.some((l) => l.includes('installed yunet_n.onnx'))).toBe(true);
      expect(await leftovers(modelsDir)).toEqual([]);
      // Installed copies are writable even though the shared folder is read-only.
      expect((await stat(path.join(modelsDir, 'yunet_n.onnx'))).mode & 0o200).toBe(0o200);

      const second = await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels() });
      expect(second.models.map((m) => m.action)).toEqual(['skipped', 'skipped']);
      expect(second.models[1]!.bytes).toBe(3998070);

      const forced = await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels(), force: true });
      expect(forced.models.map((m) => m.action)).toEqual(['installed', 'installed']);
    });

    it('installs the research profile and requireProfile accepts it', async () => {
      const modelsDir = await tempDir();
      const summary = await pullProfile(manifest, { profile: 'research', modelsDir, from: 'local', localDir: sharedModels() });
      // the optional region detector too (the profile runs without it, but pull gets it)
      expect(summary.models.map((m) => m.id)).toEqual(['scrfd_2.5g_kps', 'w600k_mbf_fp32', 'scrfd_500m_kps']);
      const { files } = await requireProfile(manifest, modelsDir, 'research');
      expect(await sha256File(files.w600k_mbf_fp32!)).toBe(manifest.models.w600k_mbf_fp32!.sha256);
      expect(await sha256File(files.scrfd_500m_kps!)).toBe(manifest.models.scrfd_500m_kps!.sha256);
    });

    it('reinstalls a corrupt installed file without force', async () => {
      const modelsDir = await tempDir();
      await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels() });
      const fh = await open(path.join(modelsDir, 'yunet_n.onnx'), 'r+');
      await fh.write(Buffer.from([1, 2, 3]), 0, 3, 10);
      await fh.close();
      const again = await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels() });
      expect(again.models.map((m) => m.action)).toEqual(['installed', 'skipped']);
      await requireProfile(manifest, modelsDir, 'permissive');
    });

    it('refuses a source file with the wrong checksum and keeps the installed good files intact', async () => {
      const modelsDir = await tempDir();
      await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels() });
      const before = {
        yunet: await stat(path.join(modelsDir, 'yunet_n.onnx')),
        mfn: await stat(path.join(modelsDir, 'mobilefacenet_128.onnx')),
      };
      // The good file comes first in the profile, so it is staged before the bad one is found.
      const src = await badSource(['yunet_n.onnx'], 'mobilefacenet_128.onnx');
      const err = await caught(pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: src, force: true }));
      expect(err.code).toBe('VIGIL_ERR_MODEL_CHECKSUM');
      expect(err.message).toContain(path.join(src, 'mobilefacenet_128.onnx'));
      expect(err.message).toContain('"permissive"');

      expect(await leftovers(modelsDir)).toEqual([]);
      // Same inodes: neither file was replaced (all-or-nothing per profile).
      expect((await stat(path.join(modelsDir, 'yunet_n.onnx'))).ino).toBe(before.yunet.ino);
      expect((await stat(path.join(modelsDir, 'mobilefacenet_128.onnx'))).ino).toBe(before.mfn.ino);
      expect(await sha256File(path.join(modelsDir, 'mobilefacenet_128.onnx'))).toBe(manifest.models.mobilefacenet_128!.sha256);
      await requireProfile(manifest, modelsDir, 'permissive');
    });

    it('installs nothing for a bad file on a fresh folder', async () => {
      const modelsDir = await tempDir();
      const src = await badSource(['mobilefacenet_128.onnx'], 'yunet_n.onnx');
      const err = await caught(pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: src }));
      expect(err.code).toBe('VIGIL_ERR_MODEL_CHECKSUM');
      expect(await readdir(modelsDir)).toEqual([]);
    });

    it('throws VIGIL_ERR_MODEL_PULL naming a missing source file', async () => {
      const modelsDir = await tempDir();
      const src = await tempDir();
      const err = await caught(pullProfile(manifest, { profile: 'permissive', modelsDir, from: 'local', localDir: src }));
      expect(err.code).toBe('VIGIL_ERR_MODEL_PULL');
      expect(err.message).toContain(path.join(src, 'yunet_n.onnx'));
      expect(await leftovers(modelsDir)).toEqual([]);
    });

    it('throws VIGIL_ERR_MODEL_PULL when no local folder is given', async () => {
      const err = await caught(pullProfile(manifest, { profile: 'permissive', modelsDir: await tempDir(), from: 'local' }));
      expect(err.code).toBe('VIGIL_ERR_MODEL_PULL');
    });

    it('throws VIGIL_ERR_MODEL_UNKNOWN_PROFILE for an unknown profile', async () => {
      const err = await caught(pullProfile(manifest, { profile: 'nope', modelsDir: await tempDir(), localDir: sharedModels() }));
      expect(err.code).toBe('VIGIL_ERR_MODEL_UNKNOWN_PROFILE');
    });
  });

  describe('npm channel', () => {
    it('throws VIGIL_ERR_MODEL_PULL when npm cannot be run', async () => {
      const modelsDir = await tempDir();
      const err = await caught(pullProfile(manifest, { profile: 'npm', modelsDir, npmCommand: path.join(modelsDir, 'no-such-npm') }));
      expect(err.code).toBe('VIGIL_ERR_MODEL_PULL');
      expect(err.message).toContain('not found');
      expect(err.retriable).toBe(true);
    });

    it('pulls the npm profile from the registry and verifies its three files', { timeout: 120_000 }, async () => {
      const modelsDir = await tempDir();
      const logs: string[] = [];
      const summary = await pullProfile(manifest, { profile: 'npm', modelsDir, log: (m) => logs.push(m) });
      expect(summary.from).toBe('npm');
      expect(summary.models.map((m) => [m.id, m.action])).toEqual([
        ['faceplugin_detect', 'installed'],
        ['faceplugin_landmark68', 'installed'],
        ['faceplugin_feature', 'installed'],
      ]);
      const status = await installedStatus(manifest, modelsDir, 'npm', { verify: true, trustCache: false });
      expect(status.complete).toBe(true);
      for (const m of Object.values(status.models)) expect(m.checksumOk).toBe(true);
      const { files } = await requireProfile(manifest, modelsDir, 'npm');
      expect(Object.keys(files)).toEqual(['faceplugin_detect', 'faceplugin_landmark68', 'faceplugin_feature']);
      expect(await leftovers(modelsDir)).toEqual([]);
    });
  });
});
