import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokens } from '../../src/broadcast/token.js';
import { parseConfig } from '../../src/config/load.js';
import { cameraSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { enrollmentFace } from '../../src/matcher/enroll.js';
import { Pipeline } from '../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { dot } from '../../src/util/boxes.js';
import { faces, hamiltonClipNow } from '../helpers.js';
import { dataDirWithModels } from '../integration/cli.js';
import { launchChromium } from './chromium.js';

/**
 * The console's Visitors page in Debian's chromium against the real pipeline: the Hamilton clip,
 * replayed at an alert camera with nobody enrolled, leaves unknown visitors and visitor alerts; a
 * viewer sees the Promote form disabled with the reason; an admin promotes Lin-Manuel Miranda's
 * visitor from the page and finds him on the Watchlist page.
 * VIGIL_CONSOLE_VISITORS_SCREENSHOT=docs/console-visitors.png writes a screenshot for the README.
 */

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const log = createLogger('silent');
let runtime: Runtime;
let pipeline: Pipeline;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let base = '';
let clip = '';
let lin = 0;

beforeAll(async () => {
  clip = await hamiltonClipNow();
  const cfg = parseConfig({ dataDir: await dataDirWithModels(), models: { profile: 'research' }, broadcast: { host: '127.0.0.1', port: 0 }, visitors: { enabled: true, alertCameras: ['door'] } }, {});
  [runtime, browser] = await Promise.all([openRuntime(cfg, log, { fetch: false }), launchChromium()]);
  const tokens = new Tokens([
    { token: ADMIN, role: 'admin', label: 'admin' },
    { token: VIEWER, role: 'viewer', label: 'wall' },
  ]);
  pipeline = new Pipeline({ cfg, log, runtime, live: false, broadcastTokens: tokens });
  await pipeline.start();
  base = `http://127.0.0.1:${pipeline.broadcast!.port}`;
  const [r] = await pipeline.cameras.run([cameraSchema.parse({ id: 'door', url: clip, realtime: false })]);
  expect(r).toMatchObject({ frames: 50, error: null });
  await pipeline.drain();
  await pipeline.matcher.flush();
  // Which visitor is Lin-Manuel Miranda (his still; ground truth for the test only).
  const still = faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png');
  const e = (await enrollmentFace(runtime.engine, still, await readFile(still))).face.embedding;
  const store = pipeline.visitors!.store;
  const lins = store.list().filter((v) => store.faces(v.number).some((f) => dot(f.embedding, e) >= runtime.threshold));
  // His second track at the alert camera was given a new visitor from its first faces, then merged into his first.
  expect(lins).toHaveLength(1);
  lin = lins[0]!.number;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
  await runtime?.close();
});

describe('console visitors page (chromium, real pipeline and server)', () => {
  it('shows the visitors and their alerts; a viewer may not promote; an admin promotes a visitor to the watchlist', async () => {
    const row = (page: import('playwright-core').Page, n: number) => page.locator(`li.visitor[data-visitor="${n}"]`);
    const errors: string[] = [];
    const viewer = await browser.context.newPage();
    viewer.on('pageerror', (err) => errors.push(err.message));
    await viewer.goto(`${base}/?token=${VIEWER}#/visitors`);
    const count = pipeline.visitors!.store.count();
    await expect.poll(() => viewer.locator('li.visitor').count()).toBe(count);
    expect(await row(viewer, lin).locator('.name').textContent()).toBe(`unknown #${lin}`);
    expect(await row(viewer, lin).locator('.visits').textContent()).toBe('1 visit today · 1 in all');
    expect(await row(viewer, lin).locator('.last-seen').textContent()).toMatch(/^last seen at door, /);
    await expect.poll(() => row(viewer, lin).locator('img').evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    // The viewer's Promote is disabled, and says why.
    expect(await row(viewer, lin).getByRole('button', { name: 'Promote', exact: true }).isDisabled()).toBe(true);
    expect(await row(viewer, lin).getByRole('button', { name: 'Promote to watchlist' }).isDisabled()).toBe(true);
    expect(await row(viewer, lin).locator('.promote .reason').textContent()).toBe('Promoting needs an admin token; this one may only read.');
    // The visitor alerts of the alert camera are on the Alerts page.
    await viewer.getByRole('link', { name: 'Alerts' }).click();
    await expect.poll(() => viewer.locator('li.alert .visitor-line').first().textContent()).toMatch(/^\s*unknown #\d+ at door, 1 visit today/);
    await viewer.close();

    const admin = await browser.context.newPage();
    admin.on('pageerror', (err) => errors.push(err.message));
    await admin.goto(`${base}/?token=${ADMIN}#/visitors`);
    await expect.poll(() => admin.locator('li.visitor').count()).toBe(count);
    await row(admin, lin).getByRole('button', { name: /^Faces/ }).click();
    await expect.poll(() => row(admin, lin).locator('.crops img').count()).toBeGreaterThan(0);
    const shot = process.env.VIGIL_CONSOLE_VISITORS_SCREENSHOT;
    if (shot) {
      await mkdir(dirname(resolve(shot)), { recursive: true });
      await admin.screenshot({ path: resolve(shot), fullPage: true });
    }
    await row(admin, lin).getByRole('button', { name: 'Promote', exact: true }).click();
    const form = admin.getByRole('form', { name: `Promote unknown #${lin}` });
    await form.getByLabel('Name').fill('Lin-Manuel Miranda');
    await form.getByRole('button', { name: 'Promote to watchlist' }).click();
    await expect.poll(() => admin.locator('.notice[role=status]').textContent()).toMatch(new RegExp(`^Promoted unknown #${lin} to the watchlist as Lin-Manuel Miranda \\(lin_manuel_miranda\\) from \\d+ faces?\\.$`));
    await expect.poll(() => row(admin, lin).count()).toBe(0);
    expect(runtime.store.get('lin_manuel_miranda')?.name).toBe('Lin-Manuel Miranda');
    await admin.getByRole('link', { name: 'Watchlist' }).click();
    await expect.poll(() => admin.locator('li.subject .name').allTextContents()).toEqual(['Lin-Manuel Miranda']);
    expect(errors).toEqual([]);
  }, 60_000);
});
