import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** ../shared (or VIGIL_SHARED_DIR). Missing data fails the test loudly: CI must never skip these. */
export function sharedDir(): string {
  const dir = resolve(process.env.VIGIL_SHARED_DIR ?? resolve(process.cwd(), '../shared'));
  if (!existsSync(join(dir, 'models')) || !existsSync(join(dir, 'data'))) {
    throw new Error(`shared data not found at ${dir}: set VIGIL_SHARED_DIR to the folder holding data/ and models/ (see ../shared/README.md)`);
  }
  return dir;
}

/** The shared model files (a missing folder fails the test: never a skip). */
export const sharedModels = (): string => join(sharedDir(), 'models');

export const repoRoot = resolve(import.meta.dirname, '..');

/** Models installed once per test run by global-setup.ts (research + permissive, from ../shared). */
export function testModelsDir(): string {
  return join(repoRoot, '.vigil-test', 'models');
}

export const faces = (...p: string[]): string => join(sharedDir(), 'data', 'faces', ...p);
export const lfw = (...p: string[]): string => join(sharedDir(), 'data', 'lfw', ...p);
export const hamiltonClip = (): string => faces('face_recognition', '_video', 'short_hamilton_clip.mp4');

const made: string[] = [];

/** A fresh temp folder, removed after the test file (test/setup.ts): a CI machine must not fill /tmp run after run. */
export async function tempDir(prefix = 'vigil-test-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Removes every folder tempDir made in this test file. */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
}

/**
 * A copy of the Hamilton clip made now: a replay maps its frames onto the file's start (its
 * modification time less its duration), so the copy's capture times are today's, whenever the
 * shared data was installed (tests that count "visits today").
 */
export async function hamiltonClipNow(): Promise<string> {
  const { copyFile } = await import('node:fs/promises');
  const dest = join(await tempDir('vigil-clip-'), 'short_hamilton_clip.mp4');
  await copyFile(hamiltonClip(), dest);
  return dest;
}
