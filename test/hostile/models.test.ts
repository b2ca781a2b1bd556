import { open, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VigilError } from '../../src/errors.js';
import { loadManifest } from '../../src/models/manifest.js';
import { pullProfile } from '../../src/models/pull.js';
import { installedStatus, requireProfile } from '../../src/models/store.js';
import { sharedDir, tempDir } from '../helpers.js';

/** Hostile probes of the installed-models folder (issue 12 item 7). */
const manifest = loadManifest();
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('model checksum cache', () => {
  it('catches a model edited in place whose mtime was set back (the cache is keyed on ctime too)', async () => {
    const modelsDir = await tempDir('vigil-hostile-models-');
    dirs.push(modelsDir);
    await pullProfile(manifest, { profile: 'permissive', modelsDir, from: 'local', localDir: join(sharedDir(), 'models') });
    const file = join(modelsDir, 'yunet_n.onnx');
    const old = new Date(Date.now() - 3600_000);
    await utimes(file, old, old);
    await requireProfile(manifest, modelsDir, 'permissive'); // hashed, and cached as good
    expect((await installedStatus(manifest, modelsDir, 'permissive', { verify: true })).models.yunet_n!.cached).toBe(true);
    const before = await stat(file, { bigint: true });

    // Later (a clock tick at least), someone edits one byte in place and restores the mtime.
    await new Promise((r) => setTimeout(r, 50));
    const fh = await open(file, 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 4000);
    b[0]! ^= 0xff;
    await fh.write(b, 0, 1, 4000);
    await fh.close();
    await utimes(file, old, old);
    const after = await stat(file, { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]); // what the old key saw

    const err = await requireProfile(manifest, modelsDir, 'permissive').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).code).toBe('VIGIL_ERR_MODEL_CHECKSUM');
    expect((err as VigilError).message).toContain('yunet_n.onnx');
  });
});
