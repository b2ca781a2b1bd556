import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/schema.js';
import { isVigilError } from '../../../src/errors.js';
import { watchConfigFile } from '../../../src/ingest/reload.js';
import { tempDir } from '../../helpers.js';

const wait = async (pred: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('config file watching', () => {
  it('reports each valid new version (in-place writes and rename-over saves), and refuses invalid ones with the password redacted', async () => {
    const dir = await tempDir();
    const file = join(dir, 'vigil.yaml');
    await writeFile(file, 'cameras: []\n');
    const seen: Config[] = [];
    const errors: unknown[] = [];
    const stop = watchConfigFile(file, { onConfig: (c) => void seen.push(c), onError: (e) => void errors.push(e), debounceMs: 50 });
    try {
      await writeFile(file, 'cameras:\n  - { id: a, url: "rtsp://u:Topsecret1@h/a" }\n');
      await wait(() => seen.length === 1);
      expect(seen[0]!.cameras.map((c) => c.id)).toEqual(['a']);
      // An editor's save: write a new file, rename it over the old one.
      await writeFile(join(dir, '.vigil.yaml.swp'), 'cameras:\n  - { id: b, url: "rtsp://u:Topsecret1@h/b" }\n');
      await rename(join(dir, '.vigil.yaml.swp'), file);
      await wait(() => seen.length === 2);
      expect(seen[1]!.cameras.map((c) => c.id)).toEqual(['b']);
      // Invalid YAML quoting the URL: refused, nothing applied, no password in the error.
      await writeFile(file, 'cameras:\n  - { id: b, url: "rtsp://u:Topsecret1@h/b", fps: 2, fps: 3 }\n');
      await wait(() => errors.length === 1);
      expect(isVigilError(errors[0], 'VIGIL_ERR_CONFIG_INVALID')).toBe(true);
      expect((errors[0] as Error).message).not.toContain('Topsecret1');
      // Schema error; then the same text again is not a change.
      await writeFile(file, 'cameras:\n  - { id: b, url: "rtsp://u:Topsecret1@h/b", fps: fast }\n');
      await wait(() => errors.length === 2);
      expect((errors[1] as Error).message).toContain('cameras.0.fps');
      await writeFile(file, await readFile(file, 'utf8'));
      await new Promise((r) => setTimeout(r, 300));
      expect(errors).toHaveLength(2);
      expect(seen).toHaveLength(2);
    } finally {
      stop();
    }
  });
});
