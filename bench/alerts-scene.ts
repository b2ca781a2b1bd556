import { spawn } from 'node:child_process';
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { listPeople } from './lfw-data.js';
import { rng, shuffled } from './metrics.js';

/**
 * Builds a CCTV-like clip from LFW for `vigil bench alerts`: people (LFW photos, cut to a soft oval
 * and scaled to CCTV face sizes) walk through a static scene, some enrolled, some never enrolled,
 * with ground truth of who appears when. Each walker uses a different photo than the one enrolled.
 */
export interface SceneOptions {
  readonly lfwDir: string;
  readonly out: string;
  readonly enrolled: number;
  readonly strangers: number;
  readonly seed: number;
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  /** face widths drawn from this range, px */
  readonly faceSize?: readonly [number, number];
  /** Empty corridor between walkers, s (min, max): nobody crosses (a quiet scene: a few people a minute). */
  readonly gaps?: readonly [number, number];
  /** Chance that the next walker starts while this one is in view (default 0.5). */
  readonly overlap?: number;
  /** Brightness of the whole frame (1: as built; 0.6: a dim corridor). */
  readonly light?: number;
  /** Gaussian blur of the faces, sigma px (0: sharp; motion and focus blur of a cheap camera). */
  readonly blur?: number;
  /** Every enrolled person walks through a second time, after everyone, past the alert cooldown (60 s). */
  readonly reappear?: boolean;
}

/** Named scene variants for the benchmarks (`--scene`): the default corridor, and differently built ones. */
export const SCENE_PRESETS = {
  default: {},
  /** a few people a minute, an empty corridor in between (replay should skip most of it) */
  quiet: { gaps: [10, 20] },
  /** people always in view, built differently: smaller faces, dim light, blur, more crossing, listed people reappearing */
  hard: { faceSize: [30, 70], light: 0.6, blur: 0.8, overlap: 0.8, reappear: true },
} as const satisfies Record<string, Partial<SceneOptions>>;
export type ScenePreset = keyof typeof SCENE_PRESETS;

export interface Appearance {
  readonly person: string;
  readonly enrolled: boolean;
  /** the photo used for the walk (relative to the LFW dir) */
  readonly photo: string;
  /** seconds of video */
  readonly start: number;
  readonly end: number;
}

export interface Scene {
  readonly video: string;
  readonly duration: number;
  readonly appearances: Appearance[];
  /** person -> photos to enroll from, in order of preference (relative to the LFW dir; never the walk photo) */
  readonly enroll: Map<string, string[]>;
}

interface Walker extends Appearance {
  readonly patch: Buffer;
  readonly size: number;
  readonly x0: number;
  readonly x1: number;
  readonly y: number;
}

/** LFW photos have the face around the centre (about 100 px of 250): a 150 px centre cut holds it with margin. */
async function facePatch(file: string, size: number, blur = 0): Promise<Buffer> {
  const oval = Buffer.from(`<svg width="${size}" height="${size}"><ellipse cx="${size / 2}" cy="${size / 2}" rx="${size * 0.36}" ry="${size * 0.46}" fill="#fff"/></svg>`);
  const mask = await sharp(oval).blur(Math.max(0.5, size / 40)).extractChannel(0).raw().toBuffer();
  const cut = sharp(file).extract({ left: 50, top: 45, width: 150, height: 160 }).resize(size, size);
  const rgb = await (blur >= 0.3 ? cut.blur(blur) : cut).removeAlpha().raw().toBuffer();
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).joinChannel(mask, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer();
}

export async function buildScene(o: SceneOptions): Promise<Scene> {
  const W = o.width ?? 1280;
  const H = o.height ?? 720;
  const fps = o.fps ?? 10;
  const [fmin, fmax] = o.faceSize ?? [44, 90];
  const rand = rng(o.seed);
  // Seeded shuffle, then the first `enrolled` are enrolled and the next `strangers` never are.
  const people = shuffled([...(await listPeople(o.lfwDir)).entries()].filter(([, files]) => files.length >= 2), rand);
  const chosen = people.slice(0, o.enrolled + o.strangers);
  const enroll = new Map<string, string[]>();
  const walkers: Walker[] = [];
  let t = 1;
  // The reappearing walk after everyone's first: the same people (their walk photo), in the same random order.
  const walks = o.reappear ? [...chosen.entries(), ...chosen.slice(0, o.enrolled).map((c, i) => [i, c] as const)] : [...chosen.entries()];
  for (const [n, [i, [person, files]]] of walks.entries()) {
    const enrolled = i < o.enrolled;
    const photo = files[1]!; // people with at least two photos only
    if (enrolled) enroll.set(person, files.filter((f) => f !== photo));
    if (n >= chosen.length) {
      // A second walk: past the alert cooldown after the first, so it is a new appearance to alert.
      const first = walkers.find((w) => w.person === person)!;
      t = Math.max(t, first.end + 62);
    }
    const duration = 4 + rand() * 4;
    // Face width ~ 0.6 of the patch: patch size from the wanted face size.
    const face = fmin + rand() * (fmax - fmin);
    const size = Math.round(face / 0.6);
    const leftToRight = rand() < 0.5;
    const x0 = leftToRight ? -size * 0.3 : W - size * 0.7;
    const x1 = leftToRight ? W - size * 0.7 : -size * 0.3;
    const y = H * 0.15 + rand() * (H * 0.6 - size);
    walkers.push({ person, enrolled, photo, start: t, end: t + duration, patch: await facePatch(join(o.lfwDir, photo), size, o.blur), size, x0, x1, y });
    if (o.gaps) t += duration + o.gaps[0] + rand() * (o.gaps[1] - o.gaps[0]);
    // Next walker starts while this one is still in view about half of the time: people cross.
    else t += rand() < (o.overlap ?? 0.5) ? duration * 0.5 : duration + 1 + rand() * 2;
  }
  const duration = Math.ceil(t + 2);
  const background = await sceneBackground(W, H);
  await encodeFrames(o.out, W, H, fps, Math.round(duration * fps), async (n) => {
    const now = n / fps;
    const layers = walkers
      .filter((w) => now >= w.start && now < w.end)
      .map((w) => {
        const p = (now - w.start) / (w.end - w.start);
        return { input: w.patch, left: Math.round(w.x0 + (w.x1 - w.x0) * p), top: Math.round(w.y + Math.sin(p * Math.PI * 6) * 3) };
      })
      .map((l) => clipLayer(l, W, H));
    const img = sharp(background, { raw: { width: W, height: H, channels: 3 } }).composite(await Promise.all(layers));
    // Composite first, then dim: sharp applies linear before composite in one pipeline.
    if (o.light === undefined || o.light === 1) return img.removeAlpha().raw().toBuffer();
    return sharp(await img.removeAlpha().raw().toBuffer(), { raw: { width: W, height: H, channels: 3 } }).linear(o.light, 0).raw().toBuffer();
  });
  return { video: o.out, duration, appearances: walkers.map(({ person, enrolled, photo, start, end }) => ({ person, enrolled, photo, start, end })), enroll };
}

/** A walker partly outside the frame: cut the patch to the visible part (sharp refuses overhangs). */
async function clipLayer(l: { input: Buffer; left: number; top: number }, W: number, H: number): Promise<OverlayOptions> {
  const meta = await sharp(l.input).metadata();
  const w = meta.width!;
  const h = meta.height!;
  const x = Math.max(0, -l.left);
  const y = Math.max(0, -l.top);
  const cw = Math.min(w - x, W - Math.max(0, l.left));
  const ch = Math.min(h - y, H - Math.max(0, l.top));
  if (x === 0 && y === 0 && cw === w && ch === h) return l;
  const input = await sharp(l.input).extract({ left: x, top: y, width: Math.max(1, cw), height: Math.max(1, ch) }).png().toBuffer();
  return { input, left: Math.max(0, l.left), top: Math.max(0, l.top) };
}

/** A dim corridor: floor, wall, a few doors; enough texture that the detector sees a real scene. */
async function sceneBackground(W: number, H: number): Promise<Buffer> {
  const svg = `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
  <defs><linearGradient id="w" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#59606a"/><stop offset="1" stop-color="#3b4048"/></linearGradient></defs>
  <rect width="${W}" height="${H}" fill="url(#w)"/>
  <rect y="${H * 0.78}" width="${W}" height="${H * 0.22}" fill="#2a2c30"/>
  ${[0.1, 0.35, 0.6, 0.85].map((x) => `<rect x="${W * x}" y="${H * 0.3}" width="${W * 0.08}" height="${H * 0.48}" fill="#6d5a45" stroke="#222" stroke-width="3"/>`).join('')}
  <rect x="${W * 0.45}" y="${H * 0.05}" width="${W * 0.1}" height="${H * 0.03}" fill="#e8e4c8"/>
</svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
}

/** Encodes RGB frames to H.264 with the ffmpeg binary (CCTV-like compression: crf 26). */
function encodeFrames(out: string, W: number, H: number, fps: number, frames: number, frame: (n: number) => Promise<Buffer>): Promise<void> {
  return new Promise((resolve, reject) => {
    const ff = spawn('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', String(fps), '-i', '-', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '26', '-pix_fmt', 'yuv420p', out], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    ff.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ff.on('error', reject);
    ff.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg encode failed: ${stderr.trim()}`))));
    void (async () => {
      for (let n = 0; n < frames; n++) {
        const buf = await frame(n);
        if (!ff.stdin.write(buf)) await new Promise((r) => ff.stdin.once('drain', r));
      }
      ff.stdin.end();
    })().catch((err: unknown) => {
      ff.kill();
      reject(err as Error);
    });
  });
}
