import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';

const profiles = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('vigil-chromium-'));

describe('withChromium', () => {
  it('removes its profile folder when the browser fails to start', async () => {
    process.env.VIGIL_CHROMIUM = '/nonexistent/chromium';
    const { withChromium } = await import('../../../src/audit/chromium.js');
    const before = new Set(profiles());
    await expect(withChromium(async () => 1)).rejects.toThrow();
    expect(profiles().filter((p) => !before.has(p))).toEqual([]);
  });
});
