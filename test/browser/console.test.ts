import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Tokens } from '../../src/broadcast/token.js';
import { parseConfig } from '../../src/config/load.js';
import { cameraSchema } from '../../src/config/schema.js';
import { cameraSetOf } from '../../src/ingest/cameras.js';
import { createLogger } from '../../src/log.js';
import { enroll } from '../../src/matcher/enroll.js';
import { Pipeline } from '../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { faces, hamiltonClip } from '../helpers.js';
import { dataDirWithModels } from '../integration/cli.js';
import { launchChromium } from './chromium.js';

/**
 * The operator console in Debian's chromium against the real server: the real pipeline replays the
 * 10 s Hamilton clip (Lin-Manuel Miranda on stage, Barack Obama in the audience at 7.8 s) with both
 * enrolled from their stills, the real event store and HTTP/WebSocket server serve it.
 * VIGIL_CONSOLE_SCREENSHOT=docs/console.png also writes the screenshot for the README.
 */

const OPERATOR = 'operator-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const tokens = new Tokens([
  { token: OPERATOR, role: 'operator', label: 'desk-1' },
  { token: VIEWER, role: 'viewer', label: 'wall' },
  { token: ADMIN, role: 'admin', label: 'admin' },
]);
const log = createLogger('silent');
const MARKUP_NAME = '<img src=x onerror="document.title=\'pwned\'">Rose';

let dataDir: string;
let runtime: Runtime;
let pipeline: Pipeline;
let port = 0;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let pageA: Page;

async function startServer(): Promise<Pipeline> {
  const cfg = parseConfig({ dataDir, models: { profile: 'research' }, broadcast: { host: '127.0.0.1', port } }, {});
  const p = new Pipeline({ cfg, log, runtime, live: false, broadcastTokens: tokens });
  await p.start();
  port = p.broadcast!.port; // the next server takes the same port
  return p;
}

/** Runs the clip through the pipeline as camera `camera` (every frame, nothing dropped) and waits until it has gone through every stage. */
async function replayAs(p: Pipeline, camera: string): Promise<void> {
  const r = (await p.cameras.run([cameraSchema.parse({ id: camera, url: hamiltonClip(), realtime: false })]))[0]!;
  expect('frames' in r && r.frames).toBe(50);
  await p.drain();
}

interface StoredMatch {
  kind: string;
  id: string;
  revision: number;
  type: string;
  subject: { name: string };
}

/** Every match event in the store, through the API. */
async function storedMatches(): Promise<StoredMatch[]> {
  const out: StoredMatch[] = [];
  let after = '';
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${port}/api/events?type=alert,update&limit=1000${after ? `&after=${after}` : ''}`, { headers: { authorization: `Bearer ${VIEWER}` } });
    const page = (await r.json()) as { events: StoredMatch[]; next: string | null };
    out.push(...page.events);
    if (page.events.length < 1000 || !page.next) return out;
    after = page.next;
  }
}

/** What a page shows: each alert card's id, revision and state. */
function cards(page: Page): Promise<{ id: string; revision: number; state: string; name: string }[]> {
  return page.$$eval('li.alert', (els) =>
    els.map((el) => ({
      id: el.getAttribute('data-alert')!,
      revision: Number(el.getAttribute('data-revision')),
      state: el.getAttribute('data-state')!,
      name: el.querySelector('.name')!.textContent!,
    })),
  );
}

/** The card of a person's alert (other cards name them too, as a runner-up). */
const card = (page: Page, name: string) => page.locator('li.alert').filter({ has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });

beforeAll(async () => {
  dataDir = await dataDirWithModels();
  const cfg = parseConfig({ dataDir, models: { profile: 'research' } }, {});
  [runtime, browser] = await Promise.all([openRuntime(cfg, log, { fetch: false }), launchChromium()]);
  const photo = (who: string, file: string) => faces('face_recognition', who, file);
  for (const [name, file] of [
    ['Lin-Manuel Miranda', photo('lin_manuel_miranda', 'lin-manuel-miranda.png')],
    ['Barack Obama', photo('obama', 'obama.jpg')],
  ] as const) {
    runtime.index.upsert(await enroll(runtime.engine, runtime.store, { name, files: [file] }));
  }
  pipeline = await startServer();
  pageA = await browser.context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
  await runtime?.close();
});

describe('operator console (chromium, real pipeline and server)', () => {
  it('shows the replayed clip\'s alerts live with the captured face beside the enrolled photo', async () => {
    const errors: string[] = [];
    pageA.on('pageerror', (e) => errors.push(e.message));
    pageA.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await pageA.goto(`http://127.0.0.1:${port}/?token=${OPERATOR}`);
    // The token moves to session storage and out of the address bar.
    expect(pageA.url()).toBe(`http://127.0.0.1:${port}/`);
    expect(await pageA.evaluate(() => sessionStorage.getItem('vigil.token'))).toBe(OPERATOR);
    await pageA.waitForSelector('.conn[data-phase=live]');
    // The operating point: the research profile's calibrated threshold at FPIR 1%.
    await expect.poll(() => pageA.textContent('.op')).toMatch(/threshold 0\.3527 · false-positive rate 1%/);

    // A watched camera that cannot connect degrades monitoring; the clip plays as another camera.
    // It runs live (supervised, backing off) beside the pipeline's replay cameras, on the same bus.
    const live = cameraSetOf(parseConfig({ dataDir }, {}), pipeline.bus, log, 'live');
    await live.apply([cameraSchema.parse({ id: 'door', url: 'rtsp://127.0.0.1:9/none' })]);
    onTestFinished(() => live.stop());
    await replayAs(pipeline, 'stage');
    await pageA.waitForSelector('li.alert >> nth=1');
    const shown = await cards(pageA);
    expect(shown.map((c) => c.name)).toEqual(['Barack Obama', 'Lin-Manuel Miranda']); // newest first
    expect(shown.every((c) => c.state === 'open')).toBe(true);
    // Each card shows both faces as decoded images: the captured crop and the enrolled photo.
    for (const c of shown) {
      const imgs = await pageA.$$eval(`li.alert[data-alert="${c.id}"] img`, (els) => els.map((i) => ({ alt: i.getAttribute('alt'), w: (i as HTMLImageElement).naturalWidth })));
      expect(imgs.map((i) => i.alt)).toEqual([`Face captured on stage`, `Enrollment photo of ${c.name}`]);
      expect(imgs.every((i) => i.w > 0)).toBe(true);
    }
    // Similarity, margin, rule, camera; the updates badge; top-k behind a disclosure.
    const lin = card(pageA, 'Lin-Manuel Miranda');
    await expect.poll(() => lin.locator('dl').textContent()).toMatch(/Similarity0\.\d{3} \(threshold 0\.353\)Margin to runner-up0\.\d{3} \(Barack Obama\)Rule(strong|k-of-n).*Camerastage/);
    const stored = await storedMatches();
    const linRevisions = stored.filter((e) => e.subject.name === 'Lin-Manuel Miranda').length - 1;
    expect(linRevisions).toBeGreaterThan(0);
    await expect.poll(() => lin.locator('.badge').textContent()).toBe(`${linRevisions} updates`);
    expect(await lin.locator('details').getAttribute('open')).toBeNull();
    // Sightings (one per face track, sent when it ends; the clip's last tracks end with it): "last seen" on the card, live.
    await pipeline.matcher.flush();
    await pipeline.drain();
    await expect.poll(() => lin.locator('.last-seen').textContent()).toMatch(/last seen \d[^·]* ago · 2 sightings/);
    // The camera strip and the degraded banner.
    await expect.poll(() => pageA.locator('.camera[data-camera=door] .pill').textContent()).toMatch(/backoff|connecting/);
    await expect.poll(() => pageA.locator('.banner[role=alert]').textContent()).toMatch(/Monitoring degraded: door/);
    // Sound needs a click (browsers block audio until one): the button turns it on.
    await pageA.getByRole('button', { name: 'Enable sound' }).click();
    expect(await pageA.getByRole('button', { name: 'Sound on' }).getAttribute('aria-pressed')).toBe('true');
    expect(errors).toEqual([]);
  }, 180_000); // the clip runs through the real models: seconds alone, longer on a loaded 2-core machine

  it('an acknowledgement on one console appears on every other; a viewer may not acknowledge', async () => {
    const pageB = await browser.context.newPage(); // its own session storage: a second console
    await pageB.goto(`http://127.0.0.1:${port}/?token=${VIEWER}`);
    await pageB.waitForSelector('li.alert >> nth=1');
    const lin = (page: Page) => card(page, 'Lin-Manuel Miranda');

    await lin(pageA).getByLabel('Note').fill('seen on stage; confirmed with the floor manager');
    await lin(pageA).getByRole('button', { name: 'Confirm' }).click();
    await pageB.waitForSelector('li.alert[data-state=confirmed]');
    expect(await lin(pageB).locator('.ack-state').textContent()).toMatch(/Confirmed by operator:desk-1 · \d+ s ago.*seen on stage; confirmed with the floor manager/);
    // Console A hears of its own acknowledgement through the feed too, maybe after B did.
    await expect.poll(() => lin(pageA).getAttribute('data-state')).toBe('confirmed');

    // The viewer's console says why it cannot, and changes nothing.
    const obama = card(pageB, 'Barack Obama');
    await obama.getByRole('button', { name: 'Dismiss as false' }).click();
    await expect.poll(() => obama.locator('.error[role=alert]').textContent()).toMatch(/needs the operator role; this token is viewer/);
    expect(await obama.getAttribute('data-state')).toBe('open');

    // Filters: only the open alerts, then only Obama.
    await pageA.getByLabel('State').selectOption('open');
    expect((await cards(pageA)).map((c) => c.name)).toEqual(['Barack Obama']);
    await pageA.getByLabel('State').selectOption('all');
    await pageA.getByLabel('Person').selectOption({ label: 'Barack Obama' });
    expect((await cards(pageA)).map((c) => c.name)).toEqual(['Barack Obama']);
    await pageA.getByLabel('Person').selectOption('');

    const shot = process.env.VIGIL_CONSOLE_SCREENSHOT;
    if (shot) {
      await mkdir(dirname(resolve(shot)), { recursive: true });
      await lin(pageA).locator('summary').click();
      await pageA.screenshot({ path: resolve(shot), fullPage: true });
    }
    // A wrong token: the console says so and stops retrying.
    await pageB.goto(`http://127.0.0.1:${port}/?token=not-a-token-of-this-server`);
    await expect.poll(() => pageB.locator('.conn').getAttribute('data-phase')).toBe('refused');
    expect(await pageB.locator('.conn').textContent()).toMatch(/Token refused: no valid token: the token is not known to this server/);
    await pageB.close();
  });

  it('a server restart mid-stream loses nothing on the page and shows nothing twice', async () => {
    // Someone not in the clip, whose name is markup: it reaches the page as a candidate of the new alerts.
    runtime.index.upsert(await enroll(runtime.engine, runtime.store, { name: MARKUP_NAME, files: [faces('face_recognition', 'rose_leslie', 'rose_leslie_img1.jpg')] }));
    await pageA.getByRole('button', { name: 'Pause queue' }).click();
    await pipeline.stop();
    await pageA.waitForSelector('.conn[data-phase=reconnecting]');
    // The page's network is down too while a new server (same port and data dir) stores the clip
    // played on another camera: what the page gets, it gets by catching up from its cursor.
    await browser.context.setOffline(true);
    pipeline = await startServer();
    await replayAs(pipeline, 'hall');
    expect(await cards(pageA)).toHaveLength(2);
    await browser.context.setOffline(false);
    await pageA.waitForSelector('.conn[data-phase=live]', { timeout: 30_000 });

    const stored = await storedMatches();
    const latest = new Map<string, number>();
    for (const e of stored) latest.set(e.id, Math.max(latest.get(e.id) ?? -1, e.revision));
    expect([...latest.keys()]).toHaveLength(4); // two people on each of two cameras
    // The queue was paused before the restart: the new alerts wait, counted, until it is resumed.
    const resume = pageA.getByRole('button', { name: /^Resume/ });
    await expect.poll(() => resume.textContent()).toBe('Resume (2 new)');
    expect(await cards(pageA)).toHaveLength(2);
    await resume.click();
    await expect.poll(async () => (await cards(pageA)).length).toBe(latest.size);
    const shown = await cards(pageA);
    // Every stored alert once, at its newest revision; the acknowledgement made before the restart kept.
    expect(new Set(shown.map((c) => c.id)).size).toBe(shown.length);
    expect(new Map(shown.map((c) => [c.id, c.revision]))).toEqual(latest);
    expect(shown.filter((c) => c.state === 'confirmed').map((c) => c.name)).toEqual(['Lin-Manuel Miranda']);

    // A reload rebuilds the same page from the store (token and cursor in session storage).
    await pageA.reload();
    await pageA.waitForSelector('.conn[data-phase=live]');
    await expect.poll(async () => (await cards(pageA)).length).toBe(latest.size);
    expect(new Map((await cards(pageA)).map((c) => [c.id, c.revision]))).toEqual(latest);
    // The sightings come back with the history too: the first camera's Miranda alert still shows its 2.
    await expect.poll(() => card(pageA, 'Lin-Manuel Miranda').locator('.last-seen').allTextContents()).toContainEqual(expect.stringMatching(/· 2 sightings/));
    // Names are text, never markup: the one that looks like HTML is shown as typed and runs nothing.
    // (the subject list arrives on its own request, after the stored alerts may already be shown)
    await expect.poll(() => pageA.getByLabel('Person').locator('option').allTextContents()).toContain(MARKUP_NAME);
    expect((await pageA.locator('.candidates').allTextContents()).join()).toContain(MARKUP_NAME);
    expect(await pageA.locator('img[src=x]').count()).toBe(0);
    expect(await pageA.title()).toBe('Vigil operator console');
    // The history comes without crops; each card fetches its face by id.
    await expect
      .poll(() => pageA.$$eval('li.alert img[alt^="Face captured"]', (els) => els.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length))
      .toBe(latest.size);
  }, 180_000);
});
