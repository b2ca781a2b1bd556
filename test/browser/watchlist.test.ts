import { mkdir } from 'node:fs/promises';
import { freePort } from '../support/net.js';
import { dirname, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokens } from '../../src/broadcast/token.js';
import { parseConfig } from '../../src/config/load.js';
import { cameraSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { enroll } from '../../src/matcher/enroll.js';
import { Pipeline } from '../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { faces, hamiltonClip } from '../helpers.js';
import { dataDirWithModels } from '../integration/cli.js';
import { launchChromium } from './chromium.js';

/**
 * The console's Watchlist and Sinks pages in Debian's chromium against the real pipeline and
 * server: an admin enrolls Lin-Manuel Miranda by uploading his still (a group photo is refused with
 * the server's reason), the Hamilton clip then alerts on him and on Barack Obama (enrolled on the
 * "vip" list, whose colour and priority the card shows); a viewer may only read; removing works;
 * the sinks page shows a dead webhook's dead letters and retries them.
 * VIGIL_CONSOLE_WATCHLIST_SCREENSHOT=docs/console-watchlist.png writes the screenshot for the README.
 */

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const tokens = new Tokens([
  { token: ADMIN, role: 'admin', label: 'admin' },
  { token: VIEWER, role: 'viewer', label: 'wall' },
]);
const log = createLogger('silent');
const LIN = 'Lin-Manuel Miranda';

let runtime: Runtime;
let pipeline: Pipeline;
let base = '';
let browser: Awaited<ReturnType<typeof launchChromium>>;
let admin: Page;

const subjectRow = (page: Page, name: string) => page.locator('li.subject').filter({ has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
const alertCard = (page: Page, name: string) => page.locator('li.alert').filter({ has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });

beforeAll(async () => {
  const dataDir = await dataDirWithModels();
  const cfg = parseConfig(
    {
      dataDir,
      models: { profile: 'research' },
      broadcast: { host: '127.0.0.1', port: 0 },
      sinks: [{ type: 'webhook', id: 'vms', url: `http://127.0.0.1:${await freePort()}/hook`, secret: '{VIGIL_TEST_HOOK_SECRET}', retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 } }],
    },
    { VIGIL_TEST_HOOK_SECRET: 'hook-secret-0123456789' },
  );
  [runtime, browser] = await Promise.all([openRuntime(cfg, log, { fetch: false }), launchChromium()]);
  runtime.store.putList({ name: 'vip', priority: 10, colour: '#dd3333', threshold: null, targetFpir: 0.01 });
  runtime.index.upsert(await enroll(runtime.engine, runtime.store, { name: 'Barack Obama', files: [faces('face_recognition', 'obama', 'obama.jpg')], lists: ['vip'] }));
  pipeline = new Pipeline({ cfg, log, runtime, live: false, broadcastTokens: tokens });
  await pipeline.start();
  base = `http://127.0.0.1:${pipeline.broadcast!.port}`;
  admin = await browser.context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
  await runtime?.close();
});

describe('console watchlist and sinks pages (chromium, real pipeline and server)', () => {
  it('an admin adds a subject from a photo; the clip then alerts with the list on the card; a viewer only reads; removing works', async () => {
    const errors: string[] = [];
    admin.on('pageerror', (e) => errors.push(e.message));
    await admin.goto(`${base}/?token=${ADMIN}#/watchlist`);
    await admin.waitForSelector('.conn[data-phase=live]');
    // The lists with their priority, colour and operating point; Obama on "vip".
    await expect.poll(() => admin.locator('.lists tr[data-list=vip]').textContent()).toMatch(/^vip10 #dd3333target false-positive rate 1%$/);
    await expect.poll(() => subjectRow(admin, 'Barack Obama').textContent()).toMatch(/barack_obama.*vip.*1 photo/);

    // A group photo is refused with the server's reason; nothing is stored.
    const form = admin.getByRole('form', { name: 'Add a subject' });
    await form.getByLabel('Name').fill('Kit Harington');
    await form.getByLabel('Photos').setInputFiles(faces('face_recognition', '_group', 'kit_with_rose.jpg'));
    await form.getByRole('button', { name: 'Add subject' }).click();
    await expect.poll(() => form.locator('.error[role=alert]').textContent()).toMatch(/^Refused: ENROLL_MANY_FACES: .*faces/);
    expect(runtime.store.get('kit_harington')).toBeUndefined();
    // Choosing the largest face enrolls it, and the server's warning says what was ignored.
    await form.getByLabel('Face').selectOption('largest');
    await form.getByRole('button', { name: 'Add subject' }).click();
    await expect.poll(() => admin.locator('.notice[role=status]').textContent()).toMatch(/^\s*Added Kit Harington \(kit_harington\) from 1 photo\.Warning: /);
    expect(await admin.locator('.notice .warnings li').allTextContents()).toEqual([
      'Warning: kit_with_rose.jpg: 1 other face(s) in the photo ignored; enrolled the chosen one',
      expect.stringMatching(/^Warning: kit_with_rose\.jpg: the face is small \(eyes \d+ px apart; 40\+ recommended\)/),
    ]);
    await subjectRow(admin, 'Kit Harington').getByRole('button', { name: 'Remove' }).click();
    await subjectRow(admin, 'Kit Harington').getByRole('button', { name: 'Yes, remove' }).click();
    await expect.poll(() => subjectRow(admin, 'Kit Harington').count()).toBe(0);

    // Lin-Manuel Miranda from his still: appears in the list with the thumbnail of the uploaded photo.
    await form.getByLabel('Name').fill(LIN);
    await form.getByLabel('Photos').setInputFiles(faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png'));
    await form.getByRole('button', { name: 'Add subject' }).click();
    await expect.poll(() => admin.locator('.notice[role=status]').textContent()).toMatch(/^\s*Added Lin-Manuel Miranda \(lin_manuel_miranda\) from 1 photo\./);
    await expect.poll(() => subjectRow(admin, LIN).count()).toBe(1);
    await expect.poll(() => subjectRow(admin, LIN).locator('img').evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    expect(runtime.store.count()).toBe(2);
    // Search.
    await admin.getByLabel('Search').fill('lin');
    await expect.poll(() => admin.locator('li.subject .name').allTextContents()).toEqual([LIN]);
    await admin.getByLabel('Search').fill('');
    const shot = process.env.VIGIL_CONSOLE_WATCHLIST_SCREENSHOT;
    if (shot) {
      await mkdir(dirname(resolve(shot)), { recursive: true });
      await admin.screenshot({ path: resolve(shot), fullPage: true });
    }

    // The running matcher follows the change log: the clip alerts on the subject added on the page.
    await expect.poll(() => runtime.index.subjects, { timeout: 5000 }).toBe(2);
    const [r] = await pipeline.cameras.run([cameraSchema.parse({ id: 'stage', url: hamiltonClip(), realtime: false })]);
    expect('frames' in r! && r.frames).toBe(50);
    await pipeline.drain();
    await admin.getByRole('link', { name: 'Alerts' }).click();
    await admin.waitForSelector('li.alert >> nth=1');
    // Obama's card shows his list in its colour with its priority; Lin-Manuel Miranda is on no list.
    const chip = alertCard(admin, 'Barack Obama').locator('.chip.list');
    expect(await chip.textContent()).toMatch(/^\s*vip\s+P10\s*$/);
    expect(await chip.evaluate((e) => getComputedStyle(e).color)).toBe('rgb(221, 51, 51)');
    expect(await alertCard(admin, 'Barack Obama').getAttribute('data-list')).toBe('vip');
    expect(await alertCard(admin, LIN).locator('.chip.list').count()).toBe(0);
    // Dismissing teaches the matcher: the button says so.
    expect(await alertCard(admin, LIN).getByRole('button', { name: 'Dismiss as false' }).getAttribute('title')).toMatch(/kept as a negative example/);

    // A viewer reads the same watchlist but cannot add, edit or remove; and sees no sinks page.
    const viewer = await browser.context.newPage();
    await viewer.goto(`${base}/?token=${VIEWER}#/watchlist`);
    await expect.poll(() => viewer.locator('li.subject').count()).toBe(2);
    await expect.poll(() => viewer.locator('.tabs .role').textContent()).toBe('signed in as viewer');
    expect(await viewer.getByRole('button', { name: 'Add subject' }).isDisabled()).toBe(true);
    expect(await viewer.getByRole('form', { name: 'Add a subject' }).textContent()).toMatch(/needs an admin token/);
    expect(await subjectRow(viewer, LIN).getByRole('button', { name: 'Remove' }).isDisabled()).toBe(true);
    expect(await viewer.getByRole('link', { name: 'Sinks' }).count()).toBe(0);
    // The server refuses the write too, whatever the page shows.
    const refused = await viewer.evaluate(async () => {
      const r = await fetch('/api/watchlist/subjects/barack_obama', { method: 'DELETE', headers: { authorization: `Bearer ${sessionStorage.getItem('vigil.token')}` } });
      return { status: r.status, body: (await r.json()) as { error: { message: string } } };
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/needs the admin role; this token is viewer/);
    await viewer.close();

    // Edit: a list and an expiry; then remove, confirmed.
    await admin.getByRole('link', { name: 'Watchlist' }).click();
    await subjectRow(admin, LIN).getByRole('button', { name: 'Edit' }).click();
    const edit = admin.getByRole('form', { name: `Edit ${LIN}` });
    await edit.getByLabel('Lists').fill('vip, stage');
    await edit.getByLabel('Expires').fill('2030-01-31');
    await edit.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => subjectRow(admin, LIN).textContent()).toMatch(/stage.*vip.*expires 2030-01-31/);
    expect(runtime.store.get('lin_manuel_miranda')).toMatchObject({ lists: ['stage', 'vip'], expiresAt: '2030-01-31T00:00:00.000Z' });
    await subjectRow(admin, LIN).getByRole('button', { name: 'Remove' }).click();
    await subjectRow(admin, LIN).getByRole('button', { name: 'Yes, remove' }).click();
    await expect.poll(() => subjectRow(admin, LIN).count()).toBe(0);
    expect(await admin.locator('.notice[role=status]').textContent()).toMatch(/^\s*Removed Lin-Manuel Miranda/);
    expect(runtime.store.get('lin_manuel_miranda')).toBeUndefined();
    expect(errors).toEqual([]);
  }, 180_000);

  it('the sinks page shows the dead webhook\'s dead letters and retries them', async () => {
    await admin.getByRole('link', { name: 'Sinks' }).click();
    const row = admin.locator('tr[data-sink=vms]');
    // Each alert and update of the clip went to a receiver that refuses connections: dead letters.
    const dead = pipeline.sinks!.dispatchers[0]!.status().deadLetters;
    expect(dead).toBeGreaterThan(1);
    await expect.poll(async () => Number(await row.locator('.dead').textContent())).toBe(dead);
    expect(await row.textContent()).toMatch(/^vms webhook\w+0\d+webhook http:\/\/127\.0\.0\.1:\d+\/hook: ECONNREFUSED\d+Retry dead letters$/); // delivered 0, failures, last error
    await row.getByRole('button', { name: 'Retry dead letters' }).click();
    await expect.poll(() => admin.locator('.sinks .notice').textContent()).toBe(`vms: ${dead} dead letters queued for one more try.`);
  }, 60_000);
});
