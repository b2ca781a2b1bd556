import { rm } from 'node:fs/promises';
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from '../helpers.js';

/**
 * Debian's chromium (installed by scripts/bootstrap.sh --test, never a browser download), headless,
 * with a fresh profile in a temp dir that is removed on close. One per test file.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await tempDir('vigil-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
