import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/models/manifest.js';
import { describeProfiles, formatProfilesTable } from '../../../src/models/list.js';
import { pullProfile } from '../../../src/models/pull.js';
import { sharedModels } from '../../helpers.js';
import { tempDirs } from '../../support/temp.js';

const manifest = loadManifest();
const tempDir = tempDirs('vigil-list-');

describe('models list', () => {
  beforeAll(() => {
    sharedModels();
  });

  describe('#describeProfiles', () => {
    it('describes every profile with its models and their licenses', async () => {
      const rows = await describeProfiles(manifest, await tempDir());
      expect(rows.map((r) => [r.profile, r.installed, r.source])).toEqual([
        ['research', 'no', 'local'],
        ['permissive', 'no', 'local'],
        ['npm', 'no', 'npm'],
      ]);
      const research = rows[0]!;
      expect(research).toMatchObject({ detector: 'scrfd_2.5g_kps', recognizer: 'w600k_mbf_fp32', threshold: manifest.profiles.research!.threshold });
      expect(research.models.map((m) => m.license)).toEqual([
        'InsightFace model license: non-commercial research use only',
        'InsightFace model license: non-commercial research use only',
        'InsightFace model license: non-commercial research use only',
      ]);
      // The region detector is listed with its license; optional: the profile runs without it.
      expect(research.models.map((m) => [m.role, m.id, m.optional ?? false])).toEqual([
        ['detector', 'scrfd_2.5g_kps', false],
        ['regions', 'scrfd_500m_kps', true],
        ['recognizer', 'w600k_mbf_fp32', false],
      ]);
      const npm = rows[2]!;
      expect(npm.landmarker).toBe('faceplugin_landmark68');
      expect(npm.models.map((m) => m.role)).toEqual(['detector', 'landmarks', 'recognizer']);
    });

    it('reports yes / partial / no from the installed folder', async () => {
      const modelsDir = await tempDir();
      await pullProfile(manifest, { profile: 'permissive', modelsDir, localDir: sharedModels() });
      await pullProfile(manifest, { profile: 'research', modelsDir, localDir: sharedModels() });
      await unlink(path.join(modelsDir, 'w600k_mbf_fp32.onnx'));
      const rows = await describeProfiles(manifest, modelsDir);
      expect(Object.fromEntries(rows.map((r) => [r.profile, r.installed]))).toEqual({ research: 'partial', permissive: 'yes', npm: 'no' });
      expect(rows[0]!.models.map((m) => m.installed)).toEqual([true, true, false]);
      // Without its optional region detector a profile is still installed.
      await pullProfile(manifest, { profile: 'research', modelsDir, localDir: sharedModels() });
      await unlink(path.join(modelsDir, 'scrfd_500m_kps.onnx'));
      const again = await describeProfiles(manifest, modelsDir);
      expect(again[0]!.installed).toBe('yes');
      expect(formatProfilesTable(again)).toMatch(/regions \(optional, not installed\)\s+scrfd_500m_kps /);
    });
  });

  describe('#formatProfilesTable', () => {
    it('prints each model with its full license text in aligned columns', async () => {
      const rows = await describeProfiles(manifest, await tempDir());
      const text = formatProfilesTable(rows);
      for (const id of ['scrfd_2.5g_kps', 'scrfd_500m_kps', 'w600k_mbf_fp32', 'yunet_n', 'mobilefacenet_128', 'faceplugin_detect', 'faceplugin_landmark68', 'faceplugin_feature']) {
        const line = text.split('\n').find((l) => l.includes(` ${id} `));
        expect(line, id).toBeDefined();
        expect(line).toContain(manifest.models[id]!.license);
      }
      expect(text).toContain('InsightFace model license: non-commercial research use only');
      expect(text).toContain('Apache-2.0');

      const lines = text.trimEnd().split('\n');
      expect(lines).toHaveLength(1 + 3 + 2 + 3);
      const licenseCol = lines[0]!.indexOf('LICENSE');
      const modelCol = lines[0]!.indexOf('MODEL');
      for (const l of lines.slice(1)) {
        expect(l.slice(licenseCol - 2, licenseCol)).toBe('  ');
        expect(l[licenseCol]).not.toBe(' ');
        expect(l[modelCol]).not.toBe(' ');
        expect(l).toBe(l.trimEnd());
      }
      expect(lines[1]!.startsWith('research ')).toBe(true);
      expect(lines[1]).toContain(manifest.profiles.research!.threshold.toFixed(2));
    });
  });
});
