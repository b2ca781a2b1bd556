import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium for rendering reports: a fresh profile folder each time (no state shared with
 * any other browser use), networking, updates and sync off: a report is rendered from inline data only.
 */
export async function withChromium<T>(fn: (ctx: BrowserContext) => Promise<T>): Promise<T> {
  const profile = await mkdtemp(join(tmpdir(), 'vigil-chromium-'));
  try {
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      return await fn(ctx);
    } finally {
      await ctx.close();
    }
  } finally {
    // also when the browser failed to start: the profile folder must not be left in /tmp
    await rm(profile, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Renders self-contained HTML to PDF (A4, backgrounds printed). */
export async function htmlToPdf(html: string): Promise<Buffer> {
  return withChromium(async (ctx) => {
    const page = await ctx.newPage();
    await page.setContent(html, { waitUntil: 'load' });
    return page.pdf({ format: 'A4', printBackground: true, tagged: true, margin: { top: '12mm', bottom: '12mm', left: '10mm', right: '10mm' } });
  });
}
