import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errors, VigilError } from '../../src/errors.js';
import { repoRoot } from '../helpers.js';

describe('error registry', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(VIGIL_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]));

  it('documents every code in docs/errors.md, and documents no code that does not exist', () => {
    expect([...documented].sort()).toEqual(Object.keys(errors).sort());
  });

  it('fills message and hint templates from params', () => {
    const e = new VigilError('VIGIL_ERR_MODEL_PROFILE_MISSING', { profile: 'research', reason: 'x' });
    expect(e.message).toBe('model profile "research" is not installed (x)');
    expect(e.hint).toBe('run `vigil models pull research`');
    expect(e.code).toBe('VIGIL_ERR_MODEL_PROFILE_MISSING');
  });
});
