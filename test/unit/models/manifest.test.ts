import { describe, expect, it } from 'vitest';
import { loadManifest, optionalModelIds, profileModelIds, resolveProfile, type Manifest } from '../../../src/models/manifest.js';

const manifest = loadManifest();

/** The shipped manifest with the research profile's region detector replaced. */
function withRegion(id: string): Manifest {
  return { ...manifest, profiles: { ...manifest.profiles, research: { ...manifest.profiles.research!, regionDetector: id } } };
}

describe('manifest', () => {
  it("resolves a profile's region detector as an optional model, apart from the ones it needs", () => {
    const research = resolveProfile(manifest, 'research');
    expect(research.regionDetector?.file).toBe('scrfd_500m_kps.onnx');
    expect(profileModelIds(research)).toEqual(['scrfd_2.5g_kps', 'w600k_mbf_fp32']);
    expect(optionalModelIds(research)).toEqual(['scrfd_500m_kps']);
    expect(optionalModelIds(resolveProfile(manifest, 'permissive'))).toEqual([]);
  });

  it('refuses a region detector that is not a detector, not in the manifest, or has a fixed input', () => {
    expect(() => resolveProfile(withRegion('w600k_mbf_fp32'), 'research')).toThrow(/regionDetector "w600k_mbf_fp32" is not a detector model/);
    expect(() => resolveProfile(withRegion('nope'), 'research')).toThrow(/regionDetector "nope" is not in the manifest/);
    const fixed: Manifest = { ...withRegion('scrfd_500m_kps'), models: { ...manifest.models, scrfd_500m_kps: { ...manifest.models.scrfd_500m_kps!, input: { width: 640, height: 640, dynamic: false } } as Manifest['models'][string] } };
    expect(() => resolveProfile(fixed, 'research')).toThrow(/needs a dynamic input/);
  });
});
