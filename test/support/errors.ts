import { expect } from 'vitest';
import { VigilError } from '../../src/errors.js';

/** The VigilError `p` rejects with (failing the test when it resolves or rejects with something else). */
export async function caught(p: Promise<unknown>): Promise<VigilError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    return err as VigilError;
  }
  throw new Error('expected a VigilError, nothing was thrown');
}
